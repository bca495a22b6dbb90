import type { ProviderRegistry } from '../../providers/registry.js';
import type { N8nNode } from './export.js';
import type { DataRef, ExprScope, ExpressionProblem, Lookup } from './expressions.js';

/** The import report of DESIGN.md "Importing n8n workflows". */
export type NodeOutcome = 'converted' | 'trigger' | 'dropped' | 'unconvertible' | 'placeholder';

export interface ReportNode {
  n8nName: string;
  n8nType: string;
  outcome: NodeOutcome;
  nodeId?: string;
  type?: string;
  reason?: string;
}

export interface ReportCredential {
  n8nName: string;
  n8nType: string;
  /** The Conveyor credential type to create it as, or null when Conveyor has none. */
  conveyorType: string | null;
  /** The credential name the converted nodes reference: create it under this name. */
  conveyorName: string;
  usedBy: string[];
}

export interface ImportSchedule {
  n8nNode: string;
  cron: string;
  timezone: string;
}

export interface ImportReport {
  nodes: ReportNode[];
  credentials: ReportCredential[];
  schedules: ImportSchedule[];
  webhook: { path: string; n8nNode: string; n8nMethod: string } | null;
  warnings: string[];
  /** Every expression that has no JSONata translation: the node, the parameter, the text and why. */
  untranslatable: { n8nNode: string; parameter: string; text: string; reason: string }[];
  /** Workflow settings n8n had that Conveyor does not carry over. */
  settingsIgnored: string[];
}

/** What `$json` means downstream of a converted node. */
export type OutputShape = DataRef | 'passthrough' | { input: number } | { none: string };

export interface Mapped {
  type: string;
  params: Record<string, unknown>;
  credential?: string;
  timeoutMs?: number;
  output: OutputShape;
  /** IF and Switch: the node outputs `{branch}` (and `branches` when several may match). */
  branch?: { allMatching: boolean };
}

export type MapResult = Mapped | { unconvertible: string };

/** What a node mapper gets: the n8n node, and helpers bound to it. */
export interface MapContext {
  node: N8nNode;
  /** The Conveyor node id it becomes. */
  id: string;
  /** Its parameters (n8n omits those at their default). */
  p: Record<string, unknown>;
  version: number;
  scope: ExprScope;
  /** Untranslatable expressions land here; any makes the node unconvertible. */
  problems: ExpressionProblem[];
  warn(message: string): void;
  /** Registers the n8n credential of `n8nType` the node uses; returns the Conveyor credential name. */
  credential(n8nType: string, conveyorType: string | null): string | undefined;
  workflowMap: Readonly<Record<string, string>>;
  timezone: string;
  /** `$json` of one input of this node (Merge). */
  inputSource(input: number): Lookup;
}

export type Mapper = (ctx: MapContext) => MapResult;

/** A name in `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}` derived from free text (credential names). */
export function credentialSlug(text: string): string {
  const s = ascii(text).toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z0-9]+/, '').replace(/-+$/, '').slice(0, 64);
  return s || 'credential';
}

/** A workflow name or webhook path in `[a-z0-9][a-z0-9-_]{0,63}`. */
export function nameSlug(text: string, fallback: string): string {
  const s = ascii(text).toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[^a-z0-9]+/, '').replace(/-+$/, '').slice(0, 64);
  return s || fallback;
}

/** A node id in `[A-Za-z_][A-Za-z0-9_]{0,63}`. */
export function nodeIdSlug(text: string): string {
  const s = ascii(text).toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 56);
  if (!s) return 'node';
  return /^[0-9]/.test(s) ? `n_${s}` : s;
}

const ascii = (text: string) => text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');

/** A resource-locator parameter (`{__rl: true, value, mode}`) or a plain value. */
export function locatorValue(v: unknown): unknown {
  return v && typeof v === 'object' && '__rl' in v ? (v as { value?: unknown }).value : v;
}

export const asRecord = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
export const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export interface ConvertOptions {
  /** The Conveyor workflow name (default: the export's name, slugged). */
  name?: string;
  /** Put a `noop` carrying the reason in place of each unconvertible node instead of refusing. */
  allowPartial?: boolean;
  /** n8n workflow id → Conveyor workflow name, for Execute Workflow nodes. */
  workflowMap?: Record<string, string>;
  /** Validate the result as a save would (node types, params, expressions). */
  registry?: ProviderRegistry;
}

/** What became of an n8n node during conversion (convert.ts), read when wiring edges and guards. */
export type NodeState = { kind: 'trigger' } | { kind: 'dropped' } | { kind: 'node'; id: string; output: OutputShape; branch?: { allMatching: boolean } };

import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * The database schema as Kysely sees it: the single TypeScript source for migrations/*.sql.
 * jsonb columns are written as JSON text (node-postgres would turn a JS array into a
 * Postgres array), and read back parsed.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
type Jsonb<T = JsonValue> = ColumnType<T, string, string>;
type JsonbDefault<T = JsonValue> = ColumnType<T, string | undefined, string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Id = Generated<string>;

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type NodeStatus = 'pending' | 'queued' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';
export type Role = 'admin' | 'editor' | 'viewer';
export type TriggerType = 'api' | 'webhook' | 'schedule' | 'retry' | 'workflow';
export type CredentialType = 'bearer' | 'basic' | 'header' | 'openai' | 'hmac' | 'slack' | 'smtp' | 'anthropic';
export type RunEventType =
  | 'run.queued' | 'run.started' | 'run.succeeded' | 'run.failed' | 'run.cancelled'
  | 'node.queued' | 'node.started' | 'node.waiting' | 'node.succeeded' | 'node.failed'
  | 'node.retrying' | 'node.skipped' | 'node.cancelled';

export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled'];
export const TERMINAL_NODE_STATUSES: readonly NodeStatus[] = ['succeeded', 'failed', 'skipped', 'cancelled'];

export interface ErrorJson { code: string; message: string; [k: string]: JsonValue }
export type WakeOutcome = { output: JsonValue } | { error: ErrorJson };

export interface WorkspacesTable {
  id: Id;
  name: string;
  is_default: Generated<boolean>;
  settings: JsonbDefault<{ [key: string]: JsonValue }>;
  created_at: CreatedAt;
}

export interface ApiKeysTable {
  id: Id;
  workspace_id: string;
  name: string;
  role: Role;
  secret_hash: Buffer;
  prefix: string;
  rate_limit_per_minute: number | null;
  created_at: CreatedAt;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface WorkflowsTable {
  id: Id;
  workspace_id: string;
  name: string;
  description: string | null;
  latest_version: Generated<number>;
  webhook_path: string | null;
  concurrency: number | null;
  created_at: CreatedAt;
  updated_at: Generated<Date>;
  archived_at: Timestamp | null;
}

export interface WorkflowVersionsTable {
  workflow_id: string;
  version: number;
  definition: Jsonb<{ [key: string]: JsonValue }>;
  created_at: CreatedAt;
  created_by: string | null;
}

export interface SchedulesTable {
  id: Id;
  workspace_id: string;
  workflow_id: string;
  cron: string;
  timezone: Generated<string>;
  input: JsonbDefault;
  enabled: Generated<boolean>;
  overlap: Generated<'allow' | 'skip' | 'queue'>;
  catch_up: Generated<'none' | 'latest'>;
  created_at: CreatedAt;
  updated_at: Generated<Date>;
}

export interface RunsTable {
  id: Id;
  workspace_id: string;
  workflow_id: string;
  version: number;
  status: Generated<RunStatus>;
  input: JsonbDefault;
  output: Jsonb | null;
  error: Jsonb<ErrorJson> | null;
  trigger_type: TriggerType;
  trigger: JsonbDefault<{ [key: string]: JsonValue }>;
  priority: Generated<number>;
  idempotency_key: string | null;
  retry_of: string | null;
  parent_run_id: string | null;
  parent_node_id: string | null;
  depth: Generated<number>;
  schedule_id: string | null;
  scheduled_for: Timestamp | null;
  deadline_at: Timestamp | null;
  waiting_for: string | null;
  exclusive_key: string | null;
  /** W3C trace context of the run's root span (tracing on), which every node span joins. */
  traceparent: string | null;
  created_at: CreatedAt;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
}

export interface NodeRunsTable {
  run_id: string;
  node_id: string;
  type: string;
  status: Generated<NodeStatus>;
  attempts: Generated<number>;
  output: Jsonb | null;
  error: Jsonb<ErrorJson> | null;
  waiting_for: string | null;
  wake_at: Timestamp | null;
  /** What the wake-up records: `{output}` (a delay) or `{error}` (a signal timeout). */
  wake_outcome: Jsonb<WakeOutcome> | null;
  child_run_id: string | null;
  queued_at: Timestamp | null;
  started_at: Timestamp | null;
  heartbeat_at: Timestamp | null;
  finished_at: Timestamp | null;
}

export interface RunEventsTable {
  id: Generated<number>;
  run_id: string;
  type: RunEventType;
  node_id: string | null;
  attempt: number | null;
  data: JsonbDefault<{ [key: string]: JsonValue }>;
  created_at: CreatedAt;
}

export interface CredentialsTable {
  id: Id;
  workspace_id: string;
  name: string;
  type: CredentialType;
  key_id: string;
  nonce: Buffer;
  ciphertext: Buffer;
  hints: JsonbDefault<{ [key: string]: string }>;
  created_at: CreatedAt;
  updated_at: Generated<Date>;
}

export interface AuditLogTable {
  id: Generated<number>;
  workspace_id: string;
  api_key_id: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  request_id: string | null;
  details: JsonbDefault<{ [key: string]: JsonValue }>;
  /** The person behind a console action (migration 0016); API-key actions leave it null. */
  user_id: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
}

/** UNLOGGED: per-key fixed-window request counters (migration 0003). */
export interface ApiKeyRateWindowsTable {
  api_key_id: string;
  window_start: Timestamp;
  count: number;
}

/** UNLOGGED: per-webhook-path fixed-window request counters (migration 0004). */
export interface WebhookRateWindowsTable {
  path: string;
  window_start: Timestamp;
  count: number;
}

/** UNLOGGED: failed webhook signature attempts per path and client address, fixed one-minute windows (migration 0008). */
export interface WebhookFailureWindowsTable {
  path: string;
  client: string;
  window_start: Timestamp;
  count: number;
}

/** UNLOGGED: runs a web process streams live, so the run_events trigger NOTIFYs for them (migration 0005). */
export interface RunEventWatchesTable {
  run_id: string;
  listener: string;
  expires_at: Timestamp;
}

/** A console sign-in (migration 0011): the cookie token only as its sha256. */
export interface ConsoleSessionsTable {
  id: Id;
  token_hash: Buffer;
  api_key_id: string | null;
  user_id: string | null;
  workspace_id: string;
  role: Role;
  created_at: CreatedAt;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
}

/** UNLOGGED: one row per worker process, refreshed by its heartbeat (migration 0005). */
export interface WorkersTable {
  id: string;
  host: string;
  pid: number;
  queues: Jsonb<string[]>;
  concurrency: number;
  in_flight: Generated<number>;
  jobs_taken: Generated<number>;
  heartbeat_ms: number;
  started_at: CreatedAt;
  heartbeat_at: Generated<Date>;
  last_job_started_at: Timestamp | null;
  last_job_finished_at: Timestamp | null;
  stopped_at: Timestamp | null;
  /** Why a scheduler last reported this worker stuck; null while it consumes. */
  stuck_reason: Generated<string | null>;
}

/** People (migration 0016): accounts beside API keys, a role per workspace. */
export interface UsersTable {
  id: Id;
  email: string;
  name: string;
  password_hash: string | null;
  oidc_subject: string | null;
  created_at: CreatedAt;
  password_changed_at: Timestamp | null;
}

export interface MembershipsTable {
  user_id: string;
  workspace_id: string;
  role: Role;
  created_at: CreatedAt;
}

/** A one-time link: the token only as its sha256, single-use through used_at. */
export interface InvitationsTable {
  id: Id;
  workspace_id: string;
  email: string;
  role: Role;
  token_hash: Buffer;
  invited_by_key: string | null;
  invited_by_user: string | null;
  created_at: CreatedAt;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface PasswordResetsTable {
  id: Id;
  user_id: string;
  token_hash: Buffer;
  created_at: CreatedAt;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

/** UNLOGGED: one row per failed sign-in, counted per subject over 15 minutes. */
export interface SignInFailuresTable {
  subject: string;
  failed_at: ColumnType<Date, Date | string | undefined, never>;
}

export interface OidcLoginsTable {
  state_hash: Buffer;
  nonce: string;
  code_verifier: string;
  created_at: CreatedAt;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface DB {
  users: UsersTable;
  memberships: MembershipsTable;
  invitations: InvitationsTable;
  password_resets: PasswordResetsTable;
  sign_in_failures: SignInFailuresTable;
  oidc_logins: OidcLoginsTable;
  workspaces: WorkspacesTable;
  api_keys: ApiKeysTable;
  workflows: WorkflowsTable;
  workflow_versions: WorkflowVersionsTable;
  schedules: SchedulesTable;
  runs: RunsTable;
  node_runs: NodeRunsTable;
  run_events: RunEventsTable;
  credentials: CredentialsTable;
  audit_log: AuditLogTable;
  api_key_rate_windows: ApiKeyRateWindowsTable;
  webhook_rate_windows: WebhookRateWindowsTable;
  webhook_failure_windows: WebhookFailureWindowsTable;
  run_event_watches: RunEventWatchesTable;
  workers: WorkersTable;
  console_sessions: ConsoleSessionsTable;
}

export type Workspace = Selectable<WorkspacesTable>;
export type ApiKey = Selectable<ApiKeysTable>;
export type Workflow = Selectable<WorkflowsTable>;
export type WorkflowVersion = Selectable<WorkflowVersionsTable>;
export type Run = Selectable<RunsTable>;
export type NewRun = Insertable<RunsTable>;
export type NodeRun = Selectable<NodeRunsTable>;
export type NodeRunUpdate = Updateable<NodeRunsTable>;
export type RunEvent = Selectable<RunEventsTable>;
export type Credential = Selectable<CredentialsTable>;
export type Schedule = Selectable<SchedulesTable>;
export type AuditEntry = Selectable<AuditLogTable>;
export type WorkerRow = Selectable<WorkersTable>;

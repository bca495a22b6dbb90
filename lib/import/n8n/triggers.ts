import { validateCron } from '../../schedules/cron.js';
import type { N8nNode } from './export.js';
import { asArray, asRecord, nameSlug } from './types.js';

/**
 * Triggers are not nodes in Conveyor: a Webhook becomes the workflow's `webhook`, a Schedule or
 * Cron trigger one schedule per rule (intervals as cron, in the workflow's time zone), and the
 * Manual trigger, the legacy Start node and "Execute Workflow Trigger" nothing (runs start
 * through the API, or from a parent's workflow.run).
 */
export type TriggerPlan =
  | { kind: 'none' }
  | { kind: 'webhook'; path: string; method: string }
  | { kind: 'schedule'; crons: string[] }
  | { kind: 'unconvertible'; reason: string };

const NOTHING = new Set(['n8n-nodes-base.manualTrigger', 'n8n-nodes-base.start', 'n8n-nodes-base.executeWorkflowTrigger']);

export function isTrigger(node: N8nNode): boolean {
  return NOTHING.has(node.type) || /trigger$/i.test(node.type) || node.type === 'n8n-nodes-base.webhook' || node.type === 'n8n-nodes-base.cron' || node.type === 'n8n-nodes-base.interval';
}

export function planTrigger(node: N8nNode): TriggerPlan {
  const p = node.parameters;
  if (NOTHING.has(node.type)) return { kind: 'none' };
  if (node.type === 'n8n-nodes-base.webhook') {
    const path = nameSlug(String(p.path ?? ''), nameSlug(node.name, 'webhook'));
    return { kind: 'webhook', path, method: String(p.httpMethod ?? 'GET').toUpperCase() };
  }
  try {
    if (node.type === 'n8n-nodes-base.scheduleTrigger') return schedule(asArray(asRecord(p.rule).interval).map(asRecord), intervalRule);
    if (node.type === 'n8n-nodes-base.cron') return schedule(asArray(asRecord(p.triggerTimes).item).map(asRecord), cronItem);
    if (node.type === 'n8n-nodes-base.interval') return schedule([p], legacyInterval);
  } catch (err) {
    return { kind: 'unconvertible', reason: (err as Error).message };
  }
  return { kind: 'unconvertible', reason: `the trigger '${node.type}' has no Conveyor equivalent (Conveyor starts runs from the API, a webhook or a schedule)` };
}

function schedule(rules: Record<string, unknown>[], toCron: (r: Record<string, unknown>) => string): TriggerPlan {
  const crons = (rules.length > 0 ? rules : [{}]).map(toCron);
  for (const cron of crons) {
    const problems = validateCron(cron, 'UTC', 0);
    if (problems.length > 0) return { kind: 'unconvertible', reason: `the cron '${cron}' is invalid: ${problems.map((x) => x.message).join('; ')}` };
  }
  return { kind: 'schedule', crons };
}

const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : fallback);
const every = (n: number) => (n <= 1 ? '*' : `*/${n}`);

/** Schedule Trigger's `rule.interval[]` entries (v1–1.2). */
function intervalRule(r: Record<string, unknown>): string {
  const field = String(r.field ?? 'days');
  const minute = num(r.triggerAtMinute, 0);
  const hour = num(r.triggerAtHour, 0);
  switch (field) {
    case 'seconds': return `${every(num(r.secondsInterval, 30))} * * * * *`;
    case 'minutes': return `${every(num(r.minutesInterval, 5))} * * * *`;
    case 'hours': return `${minute} ${every(num(r.hoursInterval, 1))} * * *`;
    case 'days': return `${minute} ${hour} ${every(num(r.daysInterval, 1))} * *`;
    case 'weeks': {
      if (num(r.weeksInterval, 1) !== 1) throw new Error(`every ${String(r.weeksInterval)} weeks cannot be written as cron: use a weekly schedule`);
      const days = asArray(r.triggerAtDay).map((d) => num(d, 0));
      return `${minute} ${hour} * * ${days.length ? days.join(',') : '0'}`;
    }
    case 'months': return `${minute} ${hour} ${num(r.triggerAtDayOfMonth, 1)} ${every(num(r.monthsInterval, 1))} *`;
    case 'cronExpression': return String(r.expression ?? '').trim();
    default: throw new Error(`the schedule interval '${field}'`);
  }
}

/** The legacy Cron node's `triggerTimes.item[]`. */
function cronItem(r: Record<string, unknown>): string {
  const mode = String(r.mode ?? 'everyDay');
  const minute = num(r.minute, 0);
  const hour = num(r.hour, 14);
  switch (mode) {
    case 'everyMinute': return '* * * * *';
    case 'everyHour': return `${minute} * * * *`;
    case 'everyDay': return `${minute} ${hour} * * *`;
    case 'everyWeek': return `${minute} ${hour} * * ${num(r.weekday, 1)}`;
    case 'everyMonth': return `${minute} ${hour} ${num(r.dayOfMonth, 1)} * *`;
    case 'everyX': return r.unit === 'minutes' ? `*/${num(r.value, 2)} * * * *` : `0 */${num(r.value, 2)} * * *`;
    case 'custom': return String(r.cronExpression ?? '').trim();
    default: throw new Error(`the Cron mode '${mode}'`);
  }
}

/** The legacy Interval node: `interval` of `unit` (seconds, minutes, hours). */
function legacyInterval(r: Record<string, unknown>): string {
  const n = num(r.interval, 1);
  const unit = String(r.unit ?? 'seconds');
  if (unit === 'seconds') return `${every(n)} * * * * *`;
  if (unit === 'minutes') return `${every(n)} * * * *`;
  return `0 ${every(n)} * * *`;
}

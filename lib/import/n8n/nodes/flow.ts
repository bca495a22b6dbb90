import { isExpression, translateValue, valueToJsonata } from '../expressions.js';
import { asRecord, locatorValue, type MapContext, type MapResult } from '../types.js';

/** NoOp → `noop`; items pass through, so `$json` after it is its input's. */
export const noOpNode = (): MapResult => ({ type: 'noop', params: {}, output: 'passthrough' });

/**
 * Merge → `noop` joining its inputs, for the modes that are a plain join: append, wait,
 * passThrough (v1), chooseBranch (v2+). Combining items by key or position has no equivalent.
 */
export function mergeNode(ctx: MapContext): MapResult {
  const mode = String(ctx.p.mode ?? 'append');
  const plain = ctx.version < 2 ? ['append', 'passThrough', 'wait'] : ['append', 'chooseBranch'];
  if (!plain.includes(mode)) return { unconvertible: `Merge in mode '${mode}' combines items; only plain joins (${plain.join(', ')}) convert` };
  if (mode === 'passThrough' || mode === 'chooseBranch') {
    const second = ctx.p.output === 'input2' || ctx.p.useDataOfInput === 2 || ctx.p.useDataOfInput === '2';
    if (ctx.p.output === 'empty') return { type: 'noop', params: {}, output: { none: 'this Merge outputs an empty item' } };
    return { type: 'noop', params: {}, output: { input: second ? 1 : 0 } };
  }
  return { type: 'noop', params: {}, output: { none: `after a Merge in mode '${mode}', $json mixes its inputs: name the node with $('Node')` } };
}

const UNIT_MS: Record<string, number> = { seconds: 1000, minutes: 60_000, hours: 3_600_000, days: 86_400_000 };

/**
 * Wait → `delay` (time interval, specific time) or `wait.signal` (webhook or form resume; the
 * run is resumed with POST /v1/runs/:id/nodes/:nodeId/signal, whose payload is its output).
 */
export function waitNode(ctx: MapContext): MapResult {
  const { p } = ctx;
  const resume = String(p.resume ?? 'timeInterval');
  // Wait 1.1 changed the defaults from 1 hour to 5 seconds.
  const amount = p.amount ?? (ctx.version >= 1.1 ? 5 : 1);
  const unit = String(p.unit ?? (ctx.version >= 1.1 ? 'seconds' : 'hours'));
  if (resume === 'timeInterval') {
    const factor = UNIT_MS[unit];
    if (!factor) return { unconvertible: `the wait unit '${unit}'` };
    const ms = isExpression(amount) ? `{{ $round($number(${valueToJsonata(amount, ctx.scope)}) * ${factor}) }}` : Math.round(Number(amount) * factor);
    return { type: 'delay', params: { ms }, output: 'passthrough' };
  }
  if (resume === 'specificTime') {
    const until = isExpression(p.dateTime) ? translateValue(p.dateTime, ctx.scope, 'dateTime', ctx.problems) : withZone(String(p.dateTime ?? ''), ctx.timezone);
    if (until === undefined) return { unconvertible: `'${String(p.dateTime)}' is not a date and time` };
    return { type: 'delay', params: { until }, output: 'passthrough' };
  }
  if (resume === 'webhook' || resume === 'form') {
    const params: Record<string, unknown> = {};
    if (p.limitWaitTime === true) {
      if (p.limitType === 'atSpecifiedTime') {
        ctx.warn('its "limit wait time" at a set date is not carried over: the node waits until signalled');
      } else {
        const factor = UNIT_MS[String(p.resumeUnit ?? 'hours')] ?? 3_600_000;
        params.timeoutMs = Math.max(1, Math.round(Number(p.resumeAmount ?? 1) * factor));
        ctx.warn('n8n resumes after the wait limit; Conveyor\'s wait.signal fails with signal_timeout instead');
      }
    }
    ctx.warn(`resumes on POST /v1/runs/<run id>/nodes/${ctx.id}/signal {payload} instead of n8n's $resumeWebhookUrl`);
    return { type: 'wait.signal', params, output: { base: `nodes.${ctx.id}.output` } };
  }
  return { unconvertible: `Wait's resume mode '${resume}'` };
}

/** A date-time without a zone is in the workflow's time zone (n8n's reading): add the offset. */
function withZone(text: string, timezone: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?/.test(text)) return undefined;
  if (/(Z|[+-]\d{2}:?\d{2})$/.test(text)) return text;
  const asUtc = new Date(`${text}Z`);
  if (Number.isNaN(asUtc.getTime())) return undefined;
  const local = new Date(asUtc.toLocaleString('en-US', { timeZone: timezone }));
  const utc = new Date(asUtc.toLocaleString('en-US', { timeZone: 'UTC' }));
  const offsetMin = Math.round((local.getTime() - utc.getTime()) / 60_000);
  return new Date(asUtc.getTime() - offsetMin * 60_000).toISOString();
}

/**
 * Execute Workflow → `workflow.run` when `workflowMap` names the Conveyor workflow for its n8n
 * workflow id. The child's input is this node's input item (or the mapped workflow inputs, v1.2+).
 */
export function executeWorkflowNode(ctx: MapContext): MapResult {
  const { p } = ctx;
  const source = String(p.source ?? 'database');
  if (source !== 'database') return { unconvertible: `Execute Workflow from '${source}' (only a stored workflow, mapped with workflowMap, converts)` };
  const n8nId = String(locatorValue(p.workflowId) ?? '');
  const target = ctx.workflowMap[n8nId];
  if (!target) return { unconvertible: `it runs n8n workflow '${n8nId}': give workflowMap {"${n8nId}": "<conveyor workflow name>"}` };
  if (p.mode === 'each') ctx.warn('runs the child once with its input, not once per item');
  const mapped = asRecord(asRecord(p.workflowInputs).value);
  let input: unknown;
  if (Object.keys(mapped).length > 0) {
    input = translateValue(mapped, ctx.scope, 'workflowInputs', ctx.problems);
  } else {
    const json = ctx.scope.json();
    input = json.ok ? `{{ ${json.ref.base} }}` : undefined;
  }
  return { type: 'workflow.run', params: { workflow: target, ...(input === undefined ? {} : { input }) }, output: { base: `nodes.${ctx.id}.output` } };
}

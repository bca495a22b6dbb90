import type { NodeOutcome } from '../../db/node-runs.js';
import type { ErrorJson, JsonValue, RunStatus } from '../../db/types.js';

/** A child run's end as its parent's `workflow.run` node sees it: the output, or the child's error. */
export function childOutcome(
  child: { id: string; status: RunStatus; output: JsonValue | null; error: ErrorJson | null },
  maxOutputBytes: number,
): NodeOutcome {
  if (child.status === 'succeeded') {
    const bytes = Buffer.byteLength(JSON.stringify(child.output ?? null));
    if (bytes > maxOutputBytes) {
      return { status: 'failed', error: { code: 'output_too_large', message: `child run ${child.id} output is ${bytes} bytes; the limit (MAX_NODE_OUTPUT_BYTES) is ${maxOutputBytes}` } };
    }
    return { status: 'succeeded', output: child.output };
  }
  const code = child.status === 'cancelled' ? 'child_cancelled' : 'child_failed';
  const why = child.error?.message ?? child.status;
  return { status: 'failed', error: { code, message: `child run ${child.id} ${child.status}: ${why}`, childRunId: child.id, ...(child.error ? { childError: child.error } : {}) } };
}

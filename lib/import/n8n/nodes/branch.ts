import { filterToJsonata, typedComparison, typedConditionsToJsonata } from '../conditions.js';
import { Untranslatable, valueToJsonata } from '../expressions.js';
import { asArray, asRecord, type MapContext, type MapResult } from '../types.js';

/**
 * IF and Switch become a `transform` computing the branch taken, `{branch}` (the n8n output
 * index, null when none), and each branch's first node is guarded on it (see convert.ts).
 */
const branchNode = (expression: string, allMatching = false): MapResult => ({
  type: 'transform',
  params: { value: allMatching ? { branch: `{{ ${expression}[0] }}`, branches: `{{ ${expression} }}` } : { branch: `{{ ${expression} }}` } },
  output: 'passthrough',
  branch: { allMatching },
});

function attempt(ctx: MapContext, build: () => MapResult): MapResult {
  try {
    return build();
  } catch (err) {
    if (!(err instanceof Untranslatable)) throw err;
    ctx.problems.push({ parameter: 'conditions', text: JSON.stringify(ctx.p.conditions ?? ctx.p.rules ?? {}).slice(0, 300), reason: err.reason });
    return { unconvertible: `a condition is untranslatable: ${err.reason}` };
  }
}

export function ifNode(ctx: MapContext): MapResult {
  return attempt(ctx, () => {
    const condition = ctx.version >= 2
      ? filterToJsonata(ctx.p.conditions, asRecord(ctx.p.options).ignoreCase === true, ctx.scope)
      : typedConditionsToJsonata(ctx.p.conditions, ctx.p.combineOperation, ctx.scope);
    return branchNode(`(${condition} ? 0 : 1)`);
  });
}

export function switchNode(ctx: MapContext): MapResult {
  return attempt(ctx, () => {
    const mode = String(ctx.p.mode ?? 'rules');
    if (mode === 'expression') return branchNode(`$number(${valueToJsonata(ctx.p.output ?? 0, ctx.scope)})`);
    if (mode !== 'rules') throw new Untranslatable(`the Switch mode '${mode}'`);
    const options = asRecord(ctx.p.options);
    if (ctx.version >= 3) {
      const rules = asArray(asRecord(ctx.p.rules).values).map((r) => filterToJsonata(asRecord(r).conditions, options.ignoreCase === true, ctx.scope));
      const fallback = options.fallbackOutput === 'extra' ? rules.length : typeof options.fallbackOutput === 'number' ? options.fallbackOutput : null;
      return pick(rules.map((test, i) => ({ test, output: i })), fallback, options.allMatchingOutputs === true);
    }
    // Switch v1–2: one value compared against each rule's value2, routed to the rule's output.
    const dataType = String(ctx.p.dataType ?? 'number');
    const rules = asArray(asRecord(ctx.p.rules).rules).map((r, i) => {
      const rule = asRecord(r);
      return { test: typedComparison(dataType, ctx.p.value1, rule.operation, rule.value2, ctx.scope), output: typeof rule.output === 'number' ? rule.output : ctx.version >= 2 ? i : 0 };
    });
    const fallback = typeof ctx.p.fallbackOutput === 'number' && ctx.p.fallbackOutput >= 0 ? ctx.p.fallbackOutput : null;
    return pick(rules, fallback, false);
  });
}

/** First matching rule's output (or every match's), else the fallback output or null. */
function pick(rules: { test: string; output: number }[], fallback: number | null, allMatching: boolean): MapResult {
  const none = fallback === null ? 'null' : String(fallback);
  if (allMatching) {
    // A condition without an else is undefined when false, and array constructors drop undefined.
    const matches = rules.map((r) => `(${r.test} ? ${r.output})`).join(', ');
    return branchNode(`($m := [${matches}]; $count($m) > 0 ? $m : [${fallback === null ? '' : none}])`, true);
  }
  const chain = rules.reduceRight((rest, r) => `(${r.test} ? ${r.output} : ${rest})`, none);
  return branchNode(chain);
}

/** A line diff of two JSON documents (longest common subsequence of lines, shared ends trimmed first). */
export interface DiffLine {
  kind: 'same' | 'added' | 'removed';
  text: string;
}

/** Beyond this many cells the middle is shown as removed-then-added rather than aligned. */
const MAX_CELLS = 4_000_000;

export function diffJson(a: unknown, b: unknown): DiffLine[] {
  const x = JSON.stringify(a, null, 2).split('\n');
  const y = JSON.stringify(b, null, 2).split('\n');
  let start = 0;
  while (start < x.length && start < y.length && x[start] === y[start]) start++;
  let endX = x.length;
  let endY = y.length;
  while (endX > start && endY > start && x[endX - 1] === y[endY - 1]) {
    endX--;
    endY--;
  }
  const head = x.slice(0, start).map((text) => ({ kind: 'same' as const, text }));
  const tail = x.slice(endX).map((text) => ({ kind: 'same' as const, text }));
  const mx = x.slice(start, endX);
  const my = y.slice(start, endY);
  if (mx.length * my.length > MAX_CELLS) {
    return [...head, ...mx.map((text) => ({ kind: 'removed' as const, text })), ...my.map((text) => ({ kind: 'added' as const, text })), ...tail];
  }
  const n = mx.length;
  const m = my.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = mx[i] === my[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const mid: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (mx[i] === my[j]) {
      mid.push({ kind: 'same', text: mx[i]! });
      i++;
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) mid.push({ kind: 'removed', text: mx[i++]! });
    else mid.push({ kind: 'added', text: my[j++]! });
  }
  while (i < n) mid.push({ kind: 'removed', text: mx[i++]! });
  while (j < m) mid.push({ kind: 'added', text: my[j++]! });
  return [...head, ...mid, ...tail];
}

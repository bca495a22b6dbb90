import dagre from '@dagrejs/dagre';
import { memo } from 'preact/compat';
import { useMemo } from 'preact/hooks';
import { glyph } from './format.js';

export interface DagNode {
  id: string;
  type: string;
}
export interface DagEdge {
  from: string;
  to: string;
}

const W = 168;
const H = 46;
/** Graphs larger than this get the cheaper ranker: a 500-node run must draw in under 2 s. */
const BIG = 150;

interface Layout {
  width: number;
  height: number;
  nodes: Map<string, { x: number; y: number }>;
  edges: { from: string; to: string; d: string }[];
}

/** Laid out once per definition (dagre); status changes only re-render the nodes that changed. */
export function layoutDag(nodes: readonly DagNode[], edges: readonly DagEdge[]): Layout {
  const g = new dagre.graphlib.Graph();
  // network-simplex ranks more compactly but costs twice as much on big graphs (~1 s at 500 nodes).
  g.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 44, marginx: 8, marginy: 8, ranker: nodes.length > BIG ? 'longest-path' : 'network-simplex' });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(nodes.map((n) => n.id));
  for (const n of nodes) g.setNode(n.id, { width: W, height: H });
  for (const e of edges) if (ids.has(e.from) && ids.has(e.to)) g.setEdge(e.from, e.to);
  // Crossing minimisation is most of the cost on big graphs; past BIG nodes, speed wins.
  dagre.layout(g, { disableOptimalOrderHeuristic: nodes.length > BIG });
  const graph = g.graph();
  const placed = new Map<string, { x: number; y: number }>();
  for (const id of g.nodes()) {
    const n = g.node(id);
    if (n) placed.set(id, { x: n.x - W / 2, y: n.y - H / 2 });
  }
  const paths = g.edges().map((e) => {
    const pts: { x: number; y: number }[] = (g.edge(e) as { points?: { x: number; y: number }[] } | undefined)?.points ?? [];
    const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    return { from: e.v, to: e.w, d };
  });
  return { width: Math.ceil(graph.width ?? W), height: Math.ceil(graph.height ?? H), nodes: placed, edges: paths };
}

const Node = memo(function Node(props: { id: string; type: string; status: string; x: number; y: number; selected: boolean; onSelect?: (id: string) => void }) {
  const { id, type, status, x, y, selected, onSelect } = props;
  const select = () => onSelect?.(id);
  return (
    <g
      class={`dag-node shape-${status}${selected ? ' selected' : ''}`}
      data-node-id={id}
      data-status={status}
      transform={`translate(${x},${y})`}
      // Lower-case: on SVG elements Preact sets attributes as written, and only `tabindex` makes them focusable.
      tabindex={onSelect ? 0 : undefined}
      role={onSelect ? 'button' : undefined}
      aria-pressed={onSelect ? selected : undefined}
      aria-label={`${id} (${type}): ${status}`}
      onClick={select}
      onKeyDown={(e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          select();
        }
      }}
    >
      <rect width={W} height={H} rx={status === 'running' || status === 'queued' ? 20 : 4} />
      <text x={10} y={19} class="dag-id">
        {id.length > 20 ? `${id.slice(0, 19)}…` : id}
      </text>
      <text x={10} y={36} class="dag-status">
        {glyph(status)} {status} · {type.length > 12 ? `${type.slice(0, 11)}…` : type}
      </text>
    </g>
  );
});

const Edges = memo(function Edges({ edges }: { edges: Layout['edges'] }) {
  return (
    <g class="dag-edges">
      {edges.map((e) => (
        <path key={`${e.from}->${e.to}`} data-edge={`${e.from}->${e.to}`} d={e.d} class="dag-edge" marker-end="url(#arrow)" />
      ))}
    </g>
  );
});

/** Memoised: a page re-render that changes no status, selection or graph costs nothing here. */
export const Dag = memo(function Dag(props: { nodes: readonly DagNode[]; edges: readonly DagEdge[]; statuses?: Readonly<Record<string, string>>; selected?: string | null; onSelect?: (id: string) => void; label: string }) {
  const { nodes, edges, statuses, selected, onSelect, label } = props;
  const layout = useMemo(() => layoutDag(nodes, edges), [nodes, edges]);
  return (
    <div class="dag-scroll">
      <svg class="dag" width={layout.width} height={layout.height} viewBox={`0 0 ${layout.width} ${layout.height}`} role="group" aria-label={label}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" class="dag-arrow" />
          </marker>
        </defs>
        <Edges edges={layout.edges} />
        <g class="dag-nodes">
          {nodes.map((n) => {
            const p = layout.nodes.get(n.id) ?? { x: 0, y: 0 };
            return <Node key={n.id} id={n.id} type={n.type} status={statuses ? (statuses[n.id] ?? 'pending') : 'defined'} x={p.x} y={p.y} selected={selected === n.id} onSelect={onSelect} />;
          })}
        </g>
      </svg>
    </div>
  );
});

-- 0006: a node's result in one round trip. Measured on this kind of machine, every round trip
-- to PostgreSQL costs a fixed ~0.3-0.5 ms of syscalls whatever the query, and recording a
-- result took seven (begin, lock, finish, statuses, settle, run end, commit). This function does
-- the same steps under the same lock, in one call: lock the run, record the node's outcome from
-- the state its holder holds, decide which successors are ready or skipped (the rules of
-- lib/engine/settle.ts, which stays the reference and is checked against this one by a
-- property test), record the run's end and, for a child run, complete its parent's node.
--
-- A version's graph is derived once, when the version is stored (conveyor_dag), the same way
-- lib/workflows/dag.ts builds it: edges between known nodes, the first of any repeated pair.

create function conveyor_dag(def jsonb) returns jsonb language sql immutable as $$
  with nodes as (
    select n->>'id' as id, ord from jsonb_array_elements(coalesce(def->'nodes', '[]')) with ordinality as t(n, ord)
  ), edges as (
    select e->>'from' as f, e->>'to' as t, min(ord) as ord
      from jsonb_array_elements(coalesce(def->'edges', '[]')) with ordinality as x(e, ord)
     where e->>'from' in (select id from nodes) and e->>'to' in (select id from nodes)
     group by 1, 2
  )
  select jsonb_build_object(
    'nodes', coalesce((select jsonb_agg(id order by ord) from nodes), '[]'),
    'preds', coalesce((select jsonb_object_agg(n.id, coalesce((select jsonb_agg(e.f order by e.ord) from edges e where e.t = n.id), '[]')) from nodes n), '{}'),
    'succs', coalesce((select jsonb_object_agg(n.id, coalesce((select jsonb_agg(e.t order by e.ord) from edges e where e.f = n.id), '[]')) from nodes n), '{}'),
    'sinks', coalesce((select jsonb_agg(n.id order by n.ord) from nodes n where not exists (select 1 from edges e where e.f = n.id)), '[]'))
$$;

alter table workflow_versions add column dag jsonb;
update workflow_versions set dag = conveyor_dag(definition);

create function workflow_versions_set_dag() returns trigger language plpgsql as $$
begin
  new.dag := conveyor_dag(new.definition);
  return new;
end $$;

create trigger workflow_versions_dag before insert or update of definition on workflow_versions
  for each row execute function workflow_versions_set_dag();

-- p_holder: 'running' (with p_attempt: only that attempt's holder may record) or 'waiting'
-- (with p_child when a child run's end completes a workflow.run node).
-- Returns {recorded: false} or {recorded: true, runs: [{run_id, workflow_id, version, priority,
-- queued: [...], ended, had_deadline, has_queued}, ...parent's entries]}.
create function conveyor_record_outcome(
  p_run uuid, p_node text, p_holder text, p_attempt int, p_child uuid,
  p_status text, p_output jsonb, p_error jsonb, p_event jsonb, p_max_output int
) returns jsonb language plpgsql as $$
declare
  r record;
  d jsonb;
  st jsonb;
  todo text[];
  cur text;
  pred text;
  pred_status text;
  failed_pred text;
  all_terminal boolean;
  all_skipped boolean;
  queued text[] := '{}';
  skips jsonb := '[]';
  ending text;
  failed_node text;
  run_output jsonb;
  run_error jsonb;
  has_queued boolean := false;
  parent_result jsonb;
  child_status text;
  child_output jsonb;
  child_error jsonb;
  child_bytes int;
  -- Every event of the call, inserted once at the end (one statement, one trigger firing), in order.
  ev_types text[];
  ev_nodes text[];
  ev_attempts int[];
  ev_data jsonb[];
begin
  select id, status, workflow_id, version, priority, parent_run_id, parent_node_id, deadline_at into r
    from runs where id = p_run for no key update;
  if not found or r.status <> 'running' then
    return jsonb_build_object('recorded', false);
  end if;

  update node_runs
     set status = p_status, output = p_output, error = p_error, finished_at = now(),
         waiting_for = null, wake_at = null, wake_outcome = null
   where run_id = p_run and node_id = p_node and status = p_holder
     and (p_attempt is null or attempts = p_attempt)
     and (p_child is null or child_run_id = p_child);
  if not found then
    return jsonb_build_object('recorded', false);
  end if;
  ev_types := array[p_event->>'type'];
  ev_nodes := array[p_node];
  ev_attempts := array[p_attempt];
  ev_data := array[coalesce(p_event->'data', '{}')];

  select dag into d from workflow_versions where workflow_id = r.workflow_id and version = r.version;
  select jsonb_object_agg(node_id, status) into st from node_runs where run_id = p_run;

  -- The DAG rules (lib/engine/settle.ts): a successor is decided once every predecessor is
  -- terminal; a failed or cancelled one skips it (upstream_failed), all skipped skip it
  -- (upstream_skipped, and its own successors are decided in turn), otherwise it is queued.
  todo := array(select jsonb_array_elements_text(coalesce(d->'succs'->p_node, '[]')));
  while cardinality(todo) > 0 loop
    cur := todo[1];
    todo := todo[2:];
    continue when coalesce(st->>cur, 'pending') <> 'pending';
    all_terminal := true;
    all_skipped := true;
    failed_pred := null;
    for pred in select jsonb_array_elements_text(coalesce(d->'preds'->cur, '[]')) loop
      pred_status := coalesce(st->>pred, 'pending');
      if pred_status not in ('succeeded', 'failed', 'skipped', 'cancelled') then
        all_terminal := false;
        exit;
      end if;
      if failed_pred is null and pred_status in ('failed', 'cancelled') then failed_pred := pred; end if;
      if pred_status <> 'skipped' then all_skipped := false; end if;
    end loop;
    continue when not all_terminal;
    if failed_pred is not null then
      skips := skips || jsonb_build_array(jsonb_build_object('node', cur, 'code', 'upstream_failed', 'message', format('upstream node ''%s'' failed', failed_pred)));
    elsif all_skipped then
      skips := skips || jsonb_build_array(jsonb_build_object('node', cur, 'code', 'upstream_skipped', 'message', 'every upstream node was skipped'));
    else
      queued := queued || cur;
      st := jsonb_set(st, array[cur], '"queued"');
      continue;
    end if;
    st := jsonb_set(st, array[cur], '"skipped"');
    todo := todo || array(select jsonb_array_elements_text(coalesce(d->'succs'->cur, '[]')));
  end loop;

  if cardinality(queued) > 0 then
    update node_runs set status = 'queued', queued_at = now()
     where run_id = p_run and node_id = any(queued) and status = 'pending';
    ev_types := ev_types || array_fill('node.queued'::text, array[cardinality(queued)]);
    ev_nodes := ev_nodes || queued;
    ev_attempts := ev_attempts || array_fill(null::int, array[cardinality(queued)]);
    ev_data := ev_data || array_fill('{}'::jsonb, array[cardinality(queued)]);
  end if;
  if jsonb_array_length(skips) > 0 then
    update node_runs n
       set status = 'skipped', error = jsonb_build_object('code', x->>'code', 'message', x->>'message'), finished_at = now()
      from jsonb_array_elements(skips) as x
     where n.run_id = p_run and n.node_id = x->>'node' and n.status = 'pending';
    select ev_types || array_agg('node.skipped'::text order by x.ord), ev_nodes || array_agg(x.value->>'node' order by x.ord),
           ev_attempts || array_agg(null::int order by x.ord),
           ev_data || array_agg(jsonb_build_object('code', x.value->>'code', 'message', x.value->>'message') order by x.ord)
      into ev_types, ev_nodes, ev_attempts, ev_data
      from jsonb_array_elements(skips) with ordinality as x(value, ord);
  end if;

  -- The run ends when no node is left open; it failed if any node failed.
  if not exists (select 1 from jsonb_each_text(st) e where e.value not in ('succeeded', 'failed', 'skipped', 'cancelled')) then
    ending := case when exists (select 1 from jsonb_each_text(st) e where e.value = 'failed') then 'failed' else 'succeeded' end;
    select coalesce(jsonb_object_agg(node_id, output), '{}') into run_output
      from node_runs where run_id = p_run and status = 'succeeded'
       and node_id in (select jsonb_array_elements_text(d->'sinks'));
    if ending = 'failed' then
      if p_status = 'failed' then
        failed_node := p_node;
      else
        select x.id into failed_node from jsonb_array_elements_text(d->'nodes') with ordinality as x(id, ord)
         where st->>x.id = 'failed' order by x.ord limit 1;
      end if;
      run_error := jsonb_build_object(
        'code', 'node_failed',
        'message', format('node ''%s'' failed', failed_node) || case when failed_node = p_node and p_error ? 'message' then ': ' || (p_error->>'message') else '' end,
        'nodeId', failed_node);
    end if;
    update runs set status = ending, output = run_output, error = run_error, finished_at = now(), waiting_for = null
     where id = p_run and status in ('queued', 'running');
    if found then
      ev_types := ev_types || ('run.' || ending);
      ev_nodes := ev_nodes || null::text;
      ev_attempts := ev_attempts || null::int;
      ev_data := ev_data || case when run_error is null then '{}'::jsonb else jsonb_build_object('error', run_error) end;
      has_queued := exists (select 1 from runs q where q.workflow_id = r.workflow_id and q.status = 'queued');
      -- A child run's end completes its parent's waiting workflow.run node (lib/engine/child-outcome.ts).
      if r.parent_run_id is not null then
        if ending = 'succeeded' then
          child_bytes := octet_length(run_output::text);
          if child_bytes > p_max_output then
            child_status := 'failed';
            child_error := jsonb_build_object('code', 'output_too_large', 'message',
              format('child run %s output is %s bytes; the limit (MAX_NODE_OUTPUT_BYTES) is %s', p_run, child_bytes, p_max_output));
          else
            child_status := 'succeeded';
            child_output := run_output;
          end if;
        else
          child_status := 'failed';
          child_error := jsonb_build_object('code', 'child_failed', 'message', format('child run %s %s: %s', p_run, ending, coalesce(run_error->>'message', ending)),
            'childRunId', p_run, 'childError', run_error);
        end if;
        parent_result := conveyor_record_outcome(
          r.parent_run_id, r.parent_node_id, 'waiting', null, p_run, child_status, child_output, child_error,
          case when child_status = 'succeeded' then jsonb_build_object('type', 'node.succeeded')
               else jsonb_build_object('type', 'node.failed', 'data', jsonb_build_object('error', child_error)) end,
          p_max_output);
      end if;
    else
      ending := null;
    end if;
  end if;

  insert into run_events (run_id, type, node_id, attempt, data)
  select p_run, x.type, x.node_id, x.attempt, x.data
    from unnest(ev_types, ev_nodes, ev_attempts, ev_data) with ordinality as x(type, node_id, attempt, data, ord)
   order by x.ord;

  return jsonb_build_object('recorded', true, 'runs',
    jsonb_build_array(jsonb_build_object(
      'run_id', p_run, 'workflow_id', r.workflow_id, 'version', r.version, 'priority', r.priority,
      'queued', to_jsonb(queued), 'ended', ending, 'had_deadline', r.deadline_at is not null, 'has_queued', has_queued))
    || coalesce(parent_result->'runs', '[]'));
end $$;

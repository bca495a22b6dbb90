-- 0017: one batch of node results, one PL/pgSQL call and one events insert.
--
-- conveyor_record_outcomes (0009) called conveyor_record_outcome once per result, and each call
-- inserted its own events: a function call, an insert, its foreign-key checks and a firing of the
-- watched-runs trigger per result. Under load (pg_stat_statements) those were most of the batch's
-- time beyond the rows themselves. The rules now run inline in the batch's loop, appending each
-- result's events to arrays that one insert writes at the end, in the order the results were
-- given (so a run's events keep their order); conveyor_record_outcome (one result: the sweeper, a
-- parent's node, a failed batch retried item by item) is a batch of one. Same rules as 0009, same
-- locks in the same order, same answers.

create or replace function conveyor_record_outcomes(p_items jsonb, p_max_output int) returns jsonb language plpgsql as $$
declare
  item jsonb;
  results jsonb := '[]';
  p_run uuid;
  p_node text;
  p_holder text;
  p_attempt int;
  p_child uuid;
  p_status text;
  p_output jsonb;
  p_error jsonb;
  p_event jsonb;
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
  queued text[];
  skips jsonb;
  ending text;
  failed_node text;
  run_output jsonb;
  run_error jsonb;
  has_queued boolean;
  -- Every event of the batch, inserted once at the end (one statement, one trigger firing), in order.
  n_events int;
  ev_runs uuid[] := '{}';
  ev_types text[] := '{}';
  ev_nodes text[] := '{}';
  ev_attempts int[] := '{}';
  ev_data jsonb[] := '{}';
begin
  <<items>>
  for item in select value from jsonb_array_elements(p_items) with ordinality as x(value, ord) order by ord loop
    p_run := (item->>'run')::uuid;
    p_node := item->>'node';
    p_holder := item->>'holder';
    p_attempt := (item->>'attempt')::int;
    p_child := (item->>'child')::uuid;
    p_status := item->>'status';
    p_output := nullif(item->'output', 'null');
    p_error := nullif(item->'error', 'null');
    p_event := item->'event';
    queued := '{}';
    skips := '[]';
    ending := null;
    failed_node := null;
    run_output := null;
    run_error := null;
    has_queued := false;

    select id, status, workflow_id, version, priority, parent_run_id, parent_node_id, deadline_at into r
      from runs where id = p_run for no key update;
    if not found or r.status <> 'running' then
      results := results || '[{"recorded": false}]'::jsonb;
      continue items;
    end if;

    update node_runs
       set status = p_status, output = p_output, error = p_error, finished_at = now(),
           waiting_for = null, wake_at = null, wake_outcome = null
     where run_id = p_run and node_id = p_node and status = p_holder
       and (p_attempt is null or attempts = p_attempt)
       and (p_child is null or child_run_id = p_child);
    if not found then
      results := results || '[{"recorded": false}]'::jsonb;
      continue items;
    end if;
    n_events := cardinality(ev_types);
    ev_types := ev_types || (p_event->>'type');
    ev_nodes := ev_nodes || p_node;
    ev_attempts := ev_attempts || p_attempt;
    ev_data := ev_data || coalesce(p_event->'data', '{}');

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
      else
        ending := null;
      end if;
    end if;

    ev_runs := ev_runs || array_fill(p_run, array[cardinality(ev_types) - n_events]);

    results := results || jsonb_build_array(jsonb_build_object('recorded', true, 'runs',
      jsonb_build_array(jsonb_build_object(
        'run_id', p_run, 'workflow_id', r.workflow_id, 'version', r.version, 'priority', r.priority,
        'queued', to_jsonb(queued), 'ended', ending, 'had_deadline', r.deadline_at is not null, 'has_queued', has_queued,
        'parent_run_id', case when ending is not null then r.parent_run_id end,
        'parent_node_id', case when ending is not null then r.parent_node_id end))));
  end loop;

  insert into run_events (run_id, type, node_id, attempt, data)
  select x.run_id, x.type, x.node_id, x.attempt, x.data
    from unnest(ev_runs, ev_types, ev_nodes, ev_attempts, ev_data) with ordinality as x(run_id, type, node_id, attempt, data, ord)
   order by x.ord;
  return results;
end $$;

create or replace function conveyor_record_outcome(
  p_run uuid, p_node text, p_holder text, p_attempt int, p_child uuid,
  p_status text, p_output jsonb, p_error jsonb, p_event jsonb, p_max_output int
) returns jsonb language sql as $$
  select conveyor_record_outcomes(jsonb_build_array(jsonb_build_object(
    'run', p_run, 'node', p_node, 'holder', p_holder, 'attempt', p_attempt, 'child', p_child,
    'status', p_status, 'output', p_output, 'error', p_error, 'event', p_event)), p_max_output)->0
$$;

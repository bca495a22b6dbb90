-- 0005: operating it. Live run events and worker heartbeats.
--
-- Live events: a web process streaming a run's events (SSE) registers a watch on the run, and a
-- statement-level trigger on run_events NOTIFYs `conveyor_run_events` with the run id only for
-- watched runs, once per run per statement (Postgres also folds identical notifications of one
-- transaction into one). Gated because a NOTIFY serialises commits cluster-wide: in a local loop
-- (8 clients, 2 events per transaction, medians of 4-5 rounds) notifying on every insert cut
-- commit throughput by 24-44%; the gate with no watcher stayed within the noise (-5%..+19%).
-- The engine's writes are unchanged and the trigger works the same on both queue backends. UNLOGGED: a watch lost in a crash is re-registered by its web
-- process (expires_at bounds a dead process's watches).
create unlogged table run_event_watches (
  run_id uuid not null,
  listener text not null,
  expires_at timestamptz not null,
  primary key (run_id, listener)
);

create function notify_watched_run_events() returns trigger language plpgsql as $$
begin
  perform pg_notify('conveyor_run_events', d.run_id::text)
     from (select distinct n.run_id from new_events n
            where exists (select 1 from run_event_watches w where w.run_id = n.run_id and w.expires_at > now())) d;
  return null;
end $$;

create trigger run_events_notify_watched
  after insert on run_events
  referencing new table as new_events
  for each statement execute function notify_watched_run_events();

-- Workers: one row per worker process, refreshed every WORKER_HEARTBEAT_MS on both queue backends,
-- so GET /v1/system and the scheduler can tell a worker that consumes from one that only runs.
-- UNLOGGED: the rows are a few seconds old at most, and rewritten every beat.
create unlogged table workers (
  id text primary key,
  host text not null,
  pid integer not null,
  queues jsonb not null default '[]',
  concurrency integer not null,
  in_flight integer not null default 0,
  jobs_taken bigint not null default 0,
  heartbeat_ms integer not null,
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  last_job_started_at timestamptz,
  last_job_finished_at timestamptz,
  stopped_at timestamptz
);
create index workers_by_heartbeat on workers (heartbeat_at);

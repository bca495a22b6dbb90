-- 0002: control flow. Runs may hold an exclusive key (a schedule's "queue" overlap: one
-- running at a time); a waiting node records what its wake-up records (a delay's output, a
-- signal timeout's error) and the child run it waits for. Indexes serve admission (queued
-- runs of a workflow in priority, FIFO order) and the sweeper's scans of timers.

alter table runs add column exclusive_key text check (length(exclusive_key) between 1 and 200);
create index runs_exclusive_active on runs (exclusive_key, status) where exclusive_key is not null and status in ('queued', 'running');
create index runs_admission on runs (workflow_id, priority, created_at, id) where status = 'queued';
create index runs_deadline on runs (deadline_at) where status = 'running' and deadline_at is not null;

alter table node_runs add column wake_outcome jsonb;
alter table node_runs add column child_run_id uuid references runs (id) on delete set null;
create index node_runs_waking on node_runs (wake_at) where status = 'waiting' and wake_at is not null;

-- 0001: the initial schema. Tenancy (workspaces, api_keys), workflows and their immutable
-- versions, runs with one row per node and an append-only event log, encrypted credentials,
-- cron schedules and the audit log. Checks make illegal states unrepresentable; indexes
-- serve the API's keyset pagination and the sweeper's scans.

create table workspaces (
  id uuid primary key default gen_random_uuid(),
  name text not null unique check (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  is_default boolean not null default false,
  settings jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create unique index workspaces_single_default on workspaces (is_default) where is_default;

create table api_keys (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  name text not null check (length(name) between 1 and 128),
  role text not null check (role in ('admin', 'editor', 'viewer')),
  -- sha256 of the secret: secrets are 32 random bytes, so a fast hash is enough and lookups stay O(1).
  secret_hash bytea not null unique check (length(secret_hash) = 32),
  prefix text not null,
  rate_limit_per_minute integer check (rate_limit_per_minute between 1 and 1000000),
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
create index api_keys_by_workspace on api_keys (workspace_id, created_at desc, id desc);

create table workflows (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  name text not null check (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  description text check (length(description) <= 4096),
  latest_version integer not null default 1 check (latest_version >= 1),
  -- Copied from the latest version so POST /hooks/:path is one indexed lookup.
  webhook_path text check (webhook_path ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  concurrency integer check (concurrency between 1 and 100000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  archived_at timestamptz
);
-- Archiving frees the name and the webhook path for reuse; archived runs stay readable.
create unique index workflows_name_per_workspace on workflows (workspace_id, name) where archived_at is null;
create unique index workflows_webhook_path on workflows (webhook_path) where archived_at is null and webhook_path is not null;
create index workflows_by_workspace on workflows (workspace_id, created_at desc, id desc);

create table workflow_versions (
  workflow_id uuid not null references workflows (id) on delete cascade,
  version integer not null check (version >= 1),
  definition jsonb not null,
  created_at timestamptz not null default now(),
  created_by uuid references api_keys (id) on delete set null,
  primary key (workflow_id, version)
);

create table schedules (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  workflow_id uuid not null references workflows (id) on delete cascade,
  cron text not null check (length(cron) between 9 and 256),
  timezone text not null default 'UTC',
  input jsonb not null default 'null',
  enabled boolean not null default true,
  overlap text not null default 'allow' check (overlap in ('allow', 'skip', 'queue')),
  catch_up text not null default 'none' check (catch_up in ('none', 'latest')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index schedules_by_workspace on schedules (workspace_id, created_at desc, id desc);

create table runs (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  workflow_id uuid not null references workflows (id) on delete cascade,
  version integer not null,
  status text not null default 'queued' check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  input jsonb not null default 'null',
  output jsonb,
  error jsonb,
  trigger_type text not null check (trigger_type in ('api', 'webhook', 'schedule', 'retry', 'workflow')),
  trigger jsonb not null default '{}',
  priority smallint not null default 5 check (priority between 1 and 10),
  idempotency_key text check (length(idempotency_key) between 1 and 255),
  retry_of uuid references runs (id) on delete set null,
  parent_run_id uuid references runs (id) on delete cascade,
  parent_node_id text,
  depth smallint not null default 0 check (depth >= 0),
  schedule_id uuid references schedules (id) on delete set null,
  scheduled_for timestamptz,
  deadline_at timestamptz,
  waiting_for text,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  foreign key (workflow_id, version) references workflow_versions (workflow_id, version),
  check ((status in ('succeeded', 'failed', 'cancelled')) = (finished_at is not null)),
  check ((parent_run_id is null) = (parent_node_id is null))
);
create unique index runs_idempotency on runs (workflow_id, idempotency_key) where idempotency_key is not null;
-- Each cron tick makes at most one run, whatever the queue or the number of schedulers does.
create unique index runs_schedule_tick on runs (schedule_id, scheduled_for) where schedule_id is not null;
create index runs_by_workspace on runs (workspace_id, created_at desc, id desc);
create index runs_by_workflow on runs (workspace_id, workflow_id, created_at desc, id desc);
create index runs_by_status on runs (workspace_id, status, created_at desc, id desc);
create index runs_active on runs (workflow_id, status, priority, created_at) where status in ('queued', 'running');
create index runs_finished on runs (finished_at) where finished_at is not null;
create index runs_children on runs (parent_run_id) where parent_run_id is not null;

create table node_runs (
  run_id uuid not null references runs (id) on delete cascade,
  node_id text not null check (node_id ~ '^[A-Za-z_][A-Za-z0-9_]{0,63}$'),
  type text not null,
  status text not null default 'pending'
    check (status in ('pending', 'queued', 'running', 'waiting', 'succeeded', 'failed', 'skipped', 'cancelled')),
  attempts integer not null default 0 check (attempts >= 0),
  output jsonb,
  error jsonb,
  waiting_for text,
  wake_at timestamptz,
  queued_at timestamptz,
  started_at timestamptz,
  -- Refreshed by the worker running the node: a claim may take over a running node only when stale.
  heartbeat_at timestamptz,
  finished_at timestamptz,
  primary key (run_id, node_id),
  check ((status in ('succeeded', 'failed', 'skipped', 'cancelled')) = (finished_at is not null))
);
create index node_runs_due on node_runs (status, queued_at) where status in ('queued', 'running', 'waiting');

create table run_events (
  id bigint generated always as identity primary key,
  run_id uuid not null references runs (id) on delete cascade,
  type text not null check (type in (
    'run.queued', 'run.started', 'run.succeeded', 'run.failed', 'run.cancelled',
    'node.queued', 'node.started', 'node.waiting', 'node.succeeded', 'node.failed',
    'node.retrying', 'node.skipped', 'node.cancelled')),
  node_id text,
  attempt integer,
  data jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create index run_events_by_run on run_events (run_id, id);

create table credentials (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  name text not null check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
  type text not null check (type in ('bearer', 'basic', 'header', 'openai', 'hmac')),
  key_id text not null,
  nonce bytea not null,
  ciphertext bytea not null,
  hints jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (workspace_id, name)
);

create table audit_log (
  id bigint generated always as identity primary key,
  workspace_id uuid not null references workspaces (id) on delete cascade,
  api_key_id uuid references api_keys (id) on delete set null,
  action text not null,
  target_type text not null,
  target_id text,
  request_id text,
  details jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create index audit_log_by_workspace on audit_log (workspace_id, id desc);

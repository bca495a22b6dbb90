-- 0004: triggers. Per-webhook-path request counters for the webhook rate limit, shared by every
-- web process: one row per path holding the current one-minute window and its count. UNLOGGED
-- like the API keys' counters (0003): a counter lost in a crash only lets a path through early
-- for the rest of a minute, and costs no WAL on the hot path.
create unlogged table webhook_rate_windows (
  path text primary key check (path ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  window_start timestamptz not null,
  count integer not null check (count >= 1)
);

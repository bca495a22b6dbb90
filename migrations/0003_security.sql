-- 0003: per-key request counters for `rateLimitPerMinute`, shared by every web process.
-- One row per limited key: the current one-minute window and its count. UNLOGGED because a
-- counter is worth nothing after a crash (losing it only lets a key through early for the
-- rest of a minute), so it costs no WAL: one cheap upsert per request of a limited key.
create unlogged table api_key_rate_windows (
  api_key_id uuid primary key references api_keys (id) on delete cascade,
  window_start timestamptz not null,
  count integer not null check (count >= 1)
);

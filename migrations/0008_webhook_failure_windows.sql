-- 0008: failed webhook signature attempts, counted per (path, client address) in fixed one-minute
-- windows shared by every web process. Kept apart from the path's own window (0004), which now
-- counts only authenticated deliveries: a flood of bad signatures cannot spend the real sender's
-- budget. UNLOGGED like 0003/0004: a count lost in a crash only lets an address fail a little
-- longer. Callers choose how many addresses appear, so web processes delete ended windows.
create unlogged table webhook_failure_windows (
  path text not null check (path ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  -- The socket's peer address (an IPv6 one as its /64 prefix), or 'unknown'.
  client text not null check (length(client) between 1 and 64),
  window_start timestamptz not null,
  count integer not null check (count >= 1),
  primary key (path, client)
);

-- 0011: console sessions. The console's sign-in exchanges an API key for an HttpOnly cookie
-- whose random token is stored here only as its sha256, so a read of this table cannot sign
-- anyone in. A session belongs to a workspace with a role, and to who signed in: an API key
-- today; `user_id` is for user accounts (its foreign key comes with the users table). Revoking
-- the key ends its sessions at once (authentication joins the key and reads its revoked_at);
-- sign-out sets revoked_at; every session ends 12 h after sign-in (expires_at). The CSRF token
-- is derived from the session token, so it needs no column.
create table console_sessions (
  id uuid primary key default gen_random_uuid(),
  token_hash bytea not null unique,
  api_key_id uuid references api_keys (id) on delete cascade,
  user_id uuid,
  workspace_id uuid not null references workspaces (id) on delete cascade,
  role text not null check (role in ('admin', 'editor', 'viewer')),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  constraint console_sessions_has_owner check (api_key_id is not null or user_id is not null)
);

create index console_sessions_api_key on console_sessions (api_key_id) where api_key_id is not null;
create index console_sessions_user on console_sessions (user_id) where user_id is not null;
-- Housekeeping deletes ended sessions by age.
create index console_sessions_expires on console_sessions (expires_at);

-- 0016: people. User accounts beside API keys (keys stay for machines): a user has an email
-- (unique whatever its case), a name, an argon2id password hash or none (single sign-on only),
-- and a role in each workspace they belong to. Console sessions (0011) already carry a user_id:
-- it now references the user, and removing a user ends their sessions with them.
create table users (
  id uuid primary key default gen_random_uuid(),
  email text not null check (email = lower(email) and length(email) between 3 and 254),
  name text not null check (length(name) between 1 and 200),
  password_hash text,
  -- Set by a verified email from the identity provider on first SSO sign-in.
  oidc_subject text,
  created_at timestamptz not null default now(),
  password_changed_at timestamptz
);
create unique index users_email on users (email);
create unique index users_oidc_subject on users (oidc_subject) where oidc_subject is not null;

create table memberships (
  user_id uuid not null references users (id) on delete cascade,
  workspace_id uuid not null references workspaces (id) on delete cascade,
  role text not null check (role in ('admin', 'editor', 'viewer')),
  created_at timestamptz not null default now(),
  primary key (user_id, workspace_id)
);
create index memberships_workspace on memberships (workspace_id);

alter table console_sessions
  add constraint console_sessions_user foreign key (user_id) references users (id) on delete cascade;

-- One-time links (an invitation, a password reset) are stored as the sha256 of their token:
-- a read of these tables cannot be turned into a link. used_at makes them single-use under
-- concurrency (a conditional update), expires_at bounds them.
create table invitations (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references workspaces (id) on delete cascade,
  email text not null check (email = lower(email)),
  role text not null check (role in ('admin', 'editor', 'viewer')),
  token_hash bytea not null unique,
  invited_by_key uuid references api_keys (id) on delete set null,
  invited_by_user uuid references users (id) on delete set null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index invitations_workspace on invitations (workspace_id, created_at desc);

create table password_resets (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  token_hash bytea not null unique,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index password_resets_user on password_resets (user_id);

-- Failed sign-ins, one row each, counted over a sliding 15 minutes per subject (an account's
-- email, or a client address): every web process shares them. UNLOGGED: after a crash the
-- counts start again, which only lets an attacker try a few more times.
create unlogged table sign_in_failures (
  subject text not null,
  failed_at timestamptz not null default now()
);
create index sign_in_failures_subject on sign_in_failures (subject, failed_at);

-- An OpenID Connect sign-in between the redirect to the issuer and its callback: the state's
-- hash (single-use), with the nonce and the PKCE verifier the callback needs.
create table oidc_logins (
  state_hash bytea primary key,
  nonce text not null,
  code_verifier text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);

-- Console actions are audited with the person who did them (API-key actions keep the key id).
alter table audit_log add column user_id uuid references users (id) on delete set null;

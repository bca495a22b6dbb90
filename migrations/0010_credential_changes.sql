-- 0010: every change to a credential is announced, so workers can cache decrypted credentials.
--
-- A worker reuses a credential it decrypted for a few seconds (lib/credentials/cache.ts) instead
-- of reading and decrypting it for every node, and drops a workspace's entries when
-- `conveyor_credentials` carries that workspace's id. A trigger rather than the writers, so none
-- can forget: the API's create, update and delete, `npm run rotate-key`, a workspace's cascade
-- delete and an operator's SQL all notify. NOTIFY is delivered on commit only, and Postgres folds
-- identical notifications of one transaction into one. Credential writes are rare, so the
-- cluster-wide commit serialisation a NOTIFY costs (see 0005) does not matter here. An update
-- that moves a row to another workspace notifies both; TRUNCATE notifies '*' (drop everything).
create function notify_credential_change() returns trigger language plpgsql as $$
begin
  if tg_op = 'TRUNCATE' then
    perform pg_notify('conveyor_credentials', '*');
    return null;
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    perform pg_notify('conveyor_credentials', old.workspace_id::text);
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    perform pg_notify('conveyor_credentials', new.workspace_id::text);
  end if;
  return null;
end $$;

create trigger credentials_notify_change
  after insert or update or delete on credentials
  for each row execute function notify_credential_change();

create trigger credentials_notify_truncate
  after truncate on credentials
  for each statement execute function notify_credential_change();

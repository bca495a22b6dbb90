-- 0007: a stuck worker is reported once, however many schedulers watch it. The scheduler whose
-- conditional update first sets (or clears) a worker's stuck reason is the one that logs it.
alter table workers add column stuck_reason text;

-- 0014: a run carries its trace context (OpenTelemetry), so every node span joins the run's trace.
--
-- `traceparent` is the W3C trace context of the run's root span, written when the run is created
-- (API, webhook, schedule tick, retry, child run) and returned by the node claim: whichever way a
-- node's job was added (at creation, as a successor, by admission, by the sweeper, by a wake-up),
-- the worker that runs it finds the run's trace in the row it claims. Null when tracing is off.
-- A nullable column without a default: adding it rewrites no rows.
alter table runs add column traceparent text;

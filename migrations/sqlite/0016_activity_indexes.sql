-- The dashboard's activations and interactions pages (issue 10): each filter reads a page
-- straight from an index, newest first, however many rows there are. Keep in step with
-- migrations/postgres/0016_activity_indexes.sql.

-- Activations of one status, newest first (the list's tabs).
create index activations_status_idx on activations (status, created_at, pending_id);

-- Interactions of one proxy, or of one outcome, newest first. (Every index costs each webhook
-- a write: the channel, with two values, is read through interactions_time_idx instead.)
create index interactions_proxy_idx on interactions (proxy_number, occurred_at);
create index interactions_outcome_idx on interactions (outcome, occurred_at);

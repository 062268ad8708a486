-- A client's latest order is read for each client of every routing batch (what a new
-- contact is about), and the dashboard lists a client's orders newest first: both straight
-- from this index, however many orders the client has (the index on client_id alone made
-- each read walk them all). It serves lookups by client_id too, so it replaces that one.
-- Keep in step with the other engine's 0023_orders_latest.sql.
create index orders_client_latest_idx on orders (client_id, created_at, order_id);
drop index orders_client_idx;

-- A pool number's owner (the client it is assigned to) and its reservation (the client it
-- is held for while they activate) get columns of their own: `reserved_by_client_id` meant
-- both, and an expiry of reservations that forgot `status = 'reserved'` would have taken
-- every client's proxy. Keep in step with migrations/sqlite/0004_pool_owner.sql.
alter table pool_numbers add column owner_client_id bigint;
update pool_numbers set owner_client_id = reserved_by_client_id, reserved_by_client_id = null
where status = 'assigned';

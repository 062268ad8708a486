-- `draining`: a number no new client gets while its client keeps it, until it is released
-- (an `error` row of the legacy sheet is imported as one). Keep in step with
-- migrations/sqlite/0009_pool_draining.sql.
alter table pool_numbers drop constraint pool_numbers_status_check;
alter table pool_numbers add constraint pool_numbers_status_check
    check (status in ('available', 'reserved', 'assigned', 'draining', 'released'));

-- `missing` (issue 9, `POST /pool/sync`): a pool number the carrier no longer lists. It is
-- never handed out; its client keeps its row so that an operator sees it; a sync that finds
-- it listed again restores it. Keep in step with migrations/sqlite/0012_pool_missing.sql.
alter table pool_numbers drop constraint pool_numbers_status_check;
alter table pool_numbers add constraint pool_numbers_status_check
    check (status in ('available', 'reserved', 'assigned', 'draining', 'released', 'missing'));

-- Cool-off (issue 9): a number taken from a client is not handed to another client before
-- this time, so that the first client's couriers do not reach a stranger. Keep in step with
-- the other engine's 0011_pool_cooloff.sql.
alter table pool_numbers add column cooloff_until text;

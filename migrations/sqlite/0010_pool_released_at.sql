-- When a number was given back to the carrier: the weekly report counts the releases of its
-- week. Keep in step with migrations/postgres/0010_pool_released_at.sql.
alter table pool_numbers add column released_at text;

-- `missing` (issue 9, `POST /pool/sync`): a pool number the carrier no longer lists. It is
-- never handed out; its client keeps its row so that an operator sees it; a sync that finds
-- it listed again restores it. SQLite cannot alter a CHECK, so the table is rebuilt with its
-- rows, ids, every column added since 0001 (0004 owner_client_id, 0010 released_at, 0011
-- cooloff_until) and its index. Keep in step with migrations/postgres/0012_pool_missing.sql.
create table pool_numbers_new (
    id                         integer primary key autoincrement,
    phone_number               text not null unique,
    twilio_sid                 text,
    country_iso                text not null,
    number_type                text not null check (number_type in ('mobile', 'local')),
    voice_capable              boolean not null,
    sms_capable                boolean not null,
    status                     text not null
        check (status in ('available', 'reserved', 'assigned', 'draining', 'released',
                          'missing')),
    friendly_name              text,
    purchased_at               text,
    assigned_at                text,
    attribution_to_client_name text,
    reserved_token             text,
    reserved_at                text,
    reserved_by_client_id      integer,
    owner_client_id            integer,
    released_at                text,
    cooloff_until              text
);
insert into pool_numbers_new (id, phone_number, twilio_sid, country_iso, number_type,
    voice_capable, sms_capable, status, friendly_name, purchased_at, assigned_at,
    attribution_to_client_name, reserved_token, reserved_at, reserved_by_client_id,
    owner_client_id, released_at, cooloff_until)
select id, phone_number, twilio_sid, country_iso, number_type, voice_capable, sms_capable,
    status, friendly_name, purchased_at, assigned_at, attribution_to_client_name,
    reserved_token, reserved_at, reserved_by_client_id, owner_client_id, released_at,
    cooloff_until
from pool_numbers;
drop table pool_numbers;
alter table pool_numbers_new rename to pool_numbers;
-- Picking a number: first available of a country and type, oldest first.
create index pool_pick_idx on pool_numbers (country_iso, number_type, status, id);

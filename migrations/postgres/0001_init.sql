-- ProxyCall schema, PostgreSQL dialect. Keep in step with migrations/sqlite/0001_init.sql:
-- the same tables, columns and indexes; only the types differ.

-- One row per customer. The proxy is unique: a number can never serve two clients.
create table clients (
    client_id            bigint primary key,
    client_name          text not null,
    client_mail          text not null,
    client_real_phone    text not null,
    client_proxy_number  text unique,
    client_iso_residency text,
    client_country_code  text,
    client_last_caller   text,
    created_at           timestamptz not null,
    updated_at           timestamptz not null
);
-- Routing finds the client by proxy (unique index above) and by real phone; activation by
-- e-mail or phone.
create index clients_real_phone_idx on clients (client_real_phone);
create index clients_mail_idx on clients (client_mail);

create table orders (
    order_id   text primary key,
    client_id  bigint not null references clients (client_id),
    created_at timestamptz not null
);
create index orders_client_idx on orders (client_id);

-- The numbers rented from the carrier. `reserved_by_client_id` is the holding client: the
-- owner once `assigned` (column K of the legacy sheet).
create table pool_numbers (
    id                         bigint generated always as identity primary key,
    phone_number               text not null unique,
    twilio_sid                 text,
    country_iso                text not null,
    number_type                text not null check (number_type in ('mobile', 'local')),
    voice_capable              boolean not null,
    sms_capable                boolean not null,
    status                     text not null
        check (status in ('available', 'reserved', 'assigned', 'released')),
    friendly_name              text,
    purchased_at               timestamptz,
    assigned_at                timestamptz,
    attribution_to_client_name text,
    reserved_token             text,
    reserved_at                timestamptz,
    reserved_by_client_id      bigint
);
-- Picking a number: first available of a country and type, oldest first.
create index pool_pick_idx on pool_numbers (country_iso, number_type, status, id);

-- API keys: only a SHA-256 of the key is kept; the key itself is shown once at creation.
create table api_keys (
    id           text primary key,
    name         text not null,
    key_hash     text not null unique,
    scopes       text not null,
    created_at   timestamptz not null,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

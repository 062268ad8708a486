-- A client's correspondents (issue 12): who reached them through their proxy, when last and
-- how, the order they came about (the client's latest order then), and whether the client
-- blocked them. The recent ones (PROXYCALL_CONTACT_WINDOW_DAYS) are whom a plain reply, `#N`
-- and the call menu reach. Keep in step with migrations/postgres/0019_contacts.sql.
create table contacts (
    client_id    integer not null references clients (client_id),
    number       text not null,
    last_at      text not null,
    last_channel text,
    order_id     text,
    blocked_at   text,
    primary key (client_id, number)
);
-- A client's recent contacts, newest first.
create index contacts_recent_idx on contacts (client_id, last_at);

-- The last callers remembered before contacts existed stay reachable for a window from the
-- client's last change.
insert into contacts (client_id, number, last_at)
select client_id, client_last_caller, updated_at from clients
where client_last_caller is not null;

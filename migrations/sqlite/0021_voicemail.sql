-- Missed calls and voicemail (issue 12, item 3), and the clients' quiet hours (item 8).
-- Keep in step with the other engine's 0021_voicemail.sql.

-- One row per forwarded call the client did not answer and whose caller was offered to leave
-- a message: opened when the recording starts (the recording's callback names only the
-- call), completed when the recording is ready. The listen link's token is kept as a hash;
-- the recording itself stays at the carrier, deleted there and here after the retention.
create table voicemails (
    id              integer primary key autoincrement,
    call_sid        text not null unique,
    client_id       integer not null,
    proxy_number    text not null,
    caller          text not null,
    recording_sid   text,
    duration_secs   integer,
    token_hash      text unique,
    link_expires_at text,
    created_at      text not null,
    recorded_at     text
);
-- The retention purge takes the oldest first.
create index voicemails_created_idx on voicemails (created_at);

-- A client's quiet hours, local times `HH:MM` in PROXYCALL_TIMEZONE; both or neither.
alter table clients add column quiet_start text;
alter table clients add column quiet_end text;

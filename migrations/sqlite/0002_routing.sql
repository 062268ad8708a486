-- Masked routing: what happened on each call or text, and what must be sent.
-- Keep in step with the other engine's 0002_routing.sql.

-- One row per routed call or text. Never a message body: this feeds reports and the audit
-- trail, and is purged after the retention period.
create table interactions (
    id             integer primary key autoincrement,
    occurred_at    text not null,
    proxy_number   text not null,
    client_id      integer,
    -- to_client: a third party reached the client; from_client: the client reached their
    -- last correspondent; unknown: refused before the client was known.
    direction      text not null check (direction in ('to_client', 'from_client', 'unknown')),
    channel        text not null check (channel in ('voice', 'sms')),
    outcome        text not null,
    twilio_sid     text
);
-- Twilio retries a webhook with the same CallSid or MessageSid: it is recorded (and relayed)
-- once.
create unique index interactions_sid_idx on interactions (channel, twilio_sid);
-- The retention purge deletes by age. (Every index costs each webhook a write: the reports
-- and the dashboard add theirs when they come.)
create index interactions_time_idx on interactions (occurred_at);

-- Every SMS or call ProxyCall must send, written before it is sent, so that none is lost;
-- a worker sends it, retrying passing failures.
create table outbound_messages (
    id              integer primary key autoincrement,
    kind            text not null check (kind in ('sms', 'call')),
    purpose         text not null,
    from_number     text not null,
    to_number       text not null,
    -- The SMS text; cleared once the message is sent or given up, as it may hold personal data.
    body            text,
    -- The TwiML address a call fetches.
    url             text,
    -- Makes enqueueing idempotent, e.g. the MessageSid of the text being relayed.
    dedupe_key      text unique,
    status          text not null check (status in ('pending', 'sending', 'sent', 'failed')),
    attempts        integer not null default 0,
    next_attempt_at text not null,
    locked_until    text,
    last_error      text,
    twilio_sid      text unique,
    -- From Twilio's status callbacks: queued, sent, delivered, undelivered, failed…
    delivery_status text,
    created_at      text not null,
    updated_at      text not null
);
-- Claiming: due messages in order, straight from the index (no sort of a long queue).
create index outbound_due_idx on outbound_messages (status, next_attempt_at, id);

-- Secrets ProxyCall makes for itself, e.g. the simulated carrier's signing token.
create table app_secrets (
    name       text primary key,
    value      text not null,
    created_at text not null
);

-- The simulated carrier's phones: what it would have delivered, with the text, so that an
-- operator can see a demo work. Only the simulated carrier writes here.
create table simulated_deliveries (
    id           integer primary key autoincrement,
    kind         text not null check (kind in ('sms', 'call')),
    from_number  text not null,
    to_number    text not null,
    body         text,
    url          text,
    sid          text not null,
    delivered_at text not null
);
create index simulated_deliveries_to_idx on simulated_deliveries (to_number, id);

-- The e-mail outbox. Keep in step with migrations/sqlite/0008_outbound_emails.sql.
--
-- Every e-mail is written here, with its `email.send` job, in the transaction of the change
-- that calls for it; a worker sends it through SMTP.
create table outbound_emails (
    id          bigint generated always as identity primary key,
    -- Why it is sent, e.g. `activation_link`, for reports.
    purpose     text not null,
    to_address  text not null,
    subject     text not null,
    -- Erased once the e-mail is sent or given up: a verification link is a credential.
    body_text   text,
    body_html   text,
    status      text not null check (status in ('pending', 'sending', 'sent', 'failed')),
    -- The try of its send job that last began sending it.
    attempts    bigint not null default 0,
    last_error  text,
    -- Makes enqueueing idempotent, e.g. one link e-mail per activation.
    dedupe_key  text unique,
    created_at  timestamptz not null,
    updated_at  timestamptz not null,
    sent_at     timestamptz
);
-- The retention purge deletes sent and failed e-mails by age.
create index outbound_emails_created_idx on outbound_emails (created_at);

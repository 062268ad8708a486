-- Activation with a one-time code (SPEC §7). Keep in step with
-- migrations/sqlite/0007_activations.sql.

-- One row per activation ("pending" in the earlier version). The code is never kept: only
-- keyed hashes of the live codes (`activation_codes`) and a hash of the link's token.
create table activations (
    pending_id        text primary key,
    client_name       text not null,
    client_mail       text not null,
    client_real_phone text not null,
    country_iso       text not null,
    -- mobile or local: the type reserved; existant: an existing client's proxy is reused.
    number_type       text not null,
    proxy_number      text not null,
    -- Whether `proxy_number` is held in the pool for this activation (reserved_token).
    reserved          boolean not null,
    -- The existing client whose proxy is reused.
    client_id         bigint,
    status            text not null,
    -- Wrong answers across every channel; at PROXYCALL_OTP_MAX_WRONG the activation locks.
    wrong_answers     bigint not null default 0,
    -- The verification call answering now, and its wrong tries (3 per call).
    call_sid          text,
    call_tries        bigint not null default 0,
    -- SHA-256 of the single-use link's tokens: the one texted (it proves the phone, as a code
    -- does) and the one e-mailed (it proves the e-mail only).
    link_token_hash   text unique,
    mail_token_hash   text unique,
    link_used_at      timestamptz,
    created_at        timestamptz not null,
    updated_at        timestamptz not null,
    verified_at       timestamptz,
    -- When it expired or locked: its reservation goes back to the pool 10 minutes later.
    ended_at          timestamptz,
    -- The client it was promoted to.
    promoted_client_id bigint
);
-- An SMS answer: the waiting activation of this phone on this proxy.
create index activations_answer_idx on activations (client_real_phone, proxy_number);
-- An activation under way for this e-mail; the expiry sweep by age.
create index activations_mail_idx on activations (client_mail);
create index activations_created_idx on activations (created_at);

-- The codes an activation accepts now: the last one sent by SMS, and those read by calls.
create table activation_codes (
    id         bigserial primary key,
    pending_id text not null references activations (pending_id) on delete cascade,
    code_hash  text not null,
    expires_at timestamptz not null
);
create index activation_codes_idx on activation_codes (pending_id);

-- Requests for a code (a start or a resend), per phone and e-mail: the limits count them.
create table otp_requests (
    id           bigserial primary key,
    phone        text not null,
    mail         text not null,
    requested_at timestamptz not null
);
create index otp_requests_phone_idx on otp_requests (phone, requested_at);
create index otp_requests_mail_idx on otp_requests (mail, requested_at);

-- The dashboard's operators, their sessions, their failed logins and the audit log. Keep in
-- step with migrations/postgres/0014_operators.sql.

-- A person who logs in at /admin. Only an Argon2id hash of the password is kept. The TOTP
-- secret must be readable to check a code: it is kept sealed (XChaCha20-Poly1305, `x1:` +
-- hex) with a key derived from PROXYCALL_OTP_SECRET, never logged nor shown after enrolment;
-- `totp_enabled` is false while an enrolment waits for its first code.
create table operators (
    id              integer primary key autoincrement,
    email           text not null unique,
    password_hash   text not null,
    role            text not null check (role in ('viewer', 'operator', 'admin')),
    totp_secret     text,
    totp_enabled    boolean not null default false,
    -- The last time step whose code was accepted: a code is accepted once (RFC 6238 §5.2).
    totp_last_step  integer,
    created_at      text not null,
    updated_at      text not null,
    disabled_at     text
);

-- Single-use recovery codes, as SHA-256: they are random, so a plain hash is enough.
create table operator_recovery_codes (
    id          integer primary key autoincrement,
    operator_id integer not null references operators (id) on delete cascade,
    code_hash   text not null,
    used_at     text
);
create index operator_recovery_codes_idx on operator_recovery_codes (operator_id);

-- A logged-in browser. The id is SHA-256 of the cookie's token, so a copy of this table opens
-- no session. `second_factor_pending`: the password was right, the TOTP code is still due.
create table operator_sessions (
    id                    text primary key,
    operator_id           integer not null references operators (id) on delete cascade,
    created_at            text not null,
    last_seen_at          text not null,
    second_factor_pending boolean not null,
    csrf_token            text not null
);
create index operator_sessions_operator_idx on operator_sessions (operator_id);

-- Failed logins, counted per account (SHA-256 of the e-mail typed, whether or not an operator
-- has it) and per address over a window: in the database, so every process counts them.
create table login_failures (
    id           integer primary key autoincrement,
    account_hash text not null,
    address      text not null,
    failed_at    text not null
);
create index login_failures_account_idx on login_failures (account_hash, failed_at);
create index login_failures_address_idx on login_failures (address, failed_at);

-- Who did what, when, to what. `details` is JSON and never holds a secret. `actor` names who
-- acted when no operator did (the command line) and keeps the operator's e-mail otherwise.
create table audit_log (
    id          integer primary key autoincrement,
    at          text not null,
    operator_id integer references operators (id),
    actor       text not null,
    action      text not null,
    target      text,
    details     text not null default '{}'
);

-- Durable jobs: all background work (sends, sweeps, reports, pool operations), in the
-- database so that a restart loses none. Keep in step with migrations/sqlite/0003_jobs.sql.

create table jobs (
    id           bigint generated always as identity primary key,
    -- Which handler runs it; a kind this binary does not know is left for one that does.
    kind         text not null,
    -- The handler's input, JSON.
    payload      text not null,
    status       text not null check (status in ('queued', 'running', 'done', 'failed')),
    due_at       timestamptz not null,
    -- Tries so far, counted when claimed.
    attempts     bigint not null default 0,
    max_attempts bigint not null,
    -- While running: the claim's lease; a lease that ran out means its process died.
    locked_until timestamptz,
    last_error   text,
    -- Enqueueing twice with the same key enqueues once: a scheduled reminder, one period of
    -- a periodic job across every process.
    dedupe_key   text unique,
    -- What a long job has done so far, then its report (JSON).
    progress     text,
    result       text,
    created_at   timestamptz not null,
    updated_at   timestamptz not null,
    finished_at  timestamptz
);
-- Claiming: due jobs in order, straight from the index.
create index jobs_due_idx on jobs (status, due_at, id);

-- Sending is now a job (`outbound.send`); a message keeps what was sent and its outcome.
-- A message caught mid-send by the upgrade may have left: failed, never sent again (as the
-- earlier version's lease check would have done). Messages waiting for a try get their job,
-- which counts the tries they had.
update outbound_messages set status = 'failed', body = null,
    last_error = 'interrupted while sending (upgrade): not retried, so that it is never sent twice'
where status = 'sending';
insert into jobs (kind, payload, status, due_at, attempts, max_attempts, dedupe_key,
                  created_at, updated_at)
select 'outbound.send', '{"outbound_id":' || id || '}', 'queued', next_attempt_at, attempts,
       100, 'outbound:' || id, created_at, updated_at
from outbound_messages where status = 'pending';
drop index outbound_due_idx;
alter table outbound_messages drop column next_attempt_at;
-- The job's lease is the message's: a message is no longer `sending` with a lease of its own.
alter table outbound_messages drop column locked_until;

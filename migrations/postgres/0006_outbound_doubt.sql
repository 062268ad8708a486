-- Nothing lost, nothing sent twice. Keep in step with migrations/sqlite/0006_outbound_doubt.sql.
--
-- A send now writes `status = 'sending'` and `send_started_at` before it asks the carrier. A
-- message a later try finds 'sending' may have left: it is in doubt, and is settled (by its
-- status callback or the carrier's list of sent messages) before anything is sent again.
alter table outbound_messages add column send_started_at timestamptz;
-- When the operator put a failed message back in the queue (`proxycall outbox requeue`): its
-- retry horizon counts from then.
alter table outbound_messages add column requeued_at timestamptz;
-- The retention purge deletes sent and failed messages by age.
create index outbound_created_idx on outbound_messages (created_at);

-- What the earlier version left. A pending message whose send job is running (a process of
-- that version may be mid-send) or failed (its process died mid-send, and its message was not
-- yet failed) is in doubt; so is one it tried before (`attempts > 0`): that version retried a
-- time-out or a 5xx after which Twilio may have taken the text. The job runs again, and
-- settles it before anything is sent.
update outbound_messages set status = 'sending',
    send_started_at = coalesce((select j.updated_at from jobs j
                       where j.dedupe_key = 'outbound:' || outbound_messages.id), updated_at),
    last_error = 'tried before an upgrade: in doubt until settled'
where status = 'pending' and attempts > 0 or status = 'pending' and exists (
    select 1 from jobs j where j.dedupe_key = 'outbound:' || outbound_messages.id
    and j.kind = 'outbound.send' and j.status in ('running', 'failed'));
update jobs set status = 'queued', finished_at = null, locked_until = null
where kind = 'outbound.send' and status = 'failed'
and dedupe_key in (select 'outbound:' || id from outbound_messages where status = 'sending');
-- Sends retry passing failures until their horizon (PROXYCALL_OUTBOX_RETRY_HOURS): the job's
-- own cap is only a backstop that must not cut it short.
update jobs set max_attempts = 10000
where kind = 'outbound.send' and status in ('queued', 'running');

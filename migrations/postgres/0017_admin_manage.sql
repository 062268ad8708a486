-- The dashboard's jobs, outbox and operators pages (issue 10). Keep in step with
-- migrations/sqlite/0017_admin_manage.sql.

-- Jobs by status, newest first, 50 a page (keyset on id): failed ones straight from the index.
create index jobs_status_id_idx on jobs (status, id);
-- Failed messages of the outbox, newest first (keyset on id).
create index outbound_status_id_idx on outbound_messages (status, id);
-- Each operator's last login, read from the audit log without reading it all.
create index audit_log_action_idx on audit_log (action, operator_id, at);

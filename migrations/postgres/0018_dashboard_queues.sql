-- The overview counts the texts and e-mails waiting or failed (`ReportStore::queues`): from
-- these indexes rather than a scan of every message kept until the retention purge.
-- Keep in step with the other engine's 0018_dashboard_queues.sql.
create index outbound_status_idx on outbound_messages (status, created_at);
create index outbound_emails_status_idx on outbound_emails (status, created_at);
-- The dashboard's pool list filtered by status alone, page after page by id.
create index pool_status_idx on pool_numbers (status, id);

-- Bounces of failed relays and the pictures of MMS. Keep in step with the other engine's
-- 0020_bounce_media.sql.
--
-- A relay remembers on whose behalf it was sent (the sender's number): when it finally fails,
-- that sender gets one text saying so (a 'bounce', itself never bounced).
alter table outbound_messages add column relay_of text;
-- The carrier's addresses of the pictures a relay carries, one per line; cleared once the
-- message is sent or given up, as its body is.
alter table outbound_messages add column media text;
-- Whether a text from a proxy to a number failed lately: a bounce is not sent to a number
-- that cannot be reached.
create index outbound_to_from_idx on outbound_messages (to_number, from_number);
-- The pictures the simulated carrier would have sent, one address per line.
alter table simulated_deliveries add column media text;

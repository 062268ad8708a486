-- The dashboard's clients (issue 10): its search finds a client by name (a case-insensitive
-- prefix, queried as the range `lower(client_name) >= $1 and lower(client_name) < $2`), and a
-- client's page lists its last interactions. Id, e-mail, real phone and proxy have their
-- indexes already. Keep in step with migrations/sqlite/0015_admin_clients.sql.
create index clients_name_idx on clients (lower(client_name));
-- Every index costs each routed webhook a write: this one is what keeps a client's page from
-- reading the whole table.
create index interactions_client_idx on interactions (client_id, id);

-- Opt-out keywords (issue 12): who texted a stop word to which proxy, where the law asks
-- for them. No text goes from the proxy to the number until it texts a start word (the row
-- is then deleted). Read per proxy by the routing batch. Keep in step with the other
-- engine's 0022_opt_outs.sql.
create table opt_outs (
    proxy_number text not null,
    number       text not null,
    created_at   text not null,
    primary key (proxy_number, number)
);

-- Low pool (issue 9 item 8): when the operator was last e-mailed about each country and type,
-- so that the alert's cool-down holds across processes and restarts; and the numbers bought
-- automatically each calendar month (UTC), reserved before buying, so that several processes
-- never spend more than the month's budget together. Keep in step with the other engine's
-- 0013_pool_low_water.sql.
create table pool_alerts (
    country_iso  text not null,
    number_type  text not null,
    last_sent_at timestamptz not null,
    primary key (country_iso, number_type)
);

create table pool_budget_months (
    month      text primary key,
    spent      bigint not null default 0 check (spent >= 0),
    updated_at timestamptz not null
);

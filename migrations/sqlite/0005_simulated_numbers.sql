-- The numbers the simulated carrier "rents", kept so that a restart keeps its inventory (pool
-- sync reads it as it reads Twilio's). Only the simulated carrier writes here.
-- Keep in step with migrations/postgres/0005_simulated_numbers.sql.
create table simulated_numbers (
    sid           text primary key,
    phone_number  text not null unique,
    friendly_name text,
    voice_url     text,
    sms_url       text,
    voice         boolean not null,
    sms           boolean not null,
    bought_at     text not null
);

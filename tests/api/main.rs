//! One test binary: every module shares the helpers and builds once.

mod a11y;
mod abuse;
mod activation;
mod activation_processes;
mod admin_activity;
mod admin_auth;
mod admin_clients;
mod admin_manage;
mod admin_pages;
mod admin_roles;
mod auth;
mod bad_input;
mod bounce;
mod browser;
mod clients;
mod commands;
mod contacts;
mod dashboard;
mod docs;
mod email;
mod guard;
mod helpers;
mod import;
mod logs;
mod low_water;
mod mms;
mod openapi_docs;
mod ops;
mod orders;
mod outbox;
mod pages;
mod pool;
mod pool_cli;
mod processes;
mod provision;
mod quiet_hours;
mod release;
mod rented;
mod reports;
mod scopes;
mod signatures;
#[path = "../common/smtp_server.rs"]
mod smtp_server;
mod sync;
#[path = "../common/test_db.rs"]
mod test_db;
#[path = "../common/twilio_sim.rs"]
mod twilio_sim;
mod voicemail;
mod webhooks;

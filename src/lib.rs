pub mod app;
pub mod cli;
pub mod config;
mod demo;
pub mod domain;
pub mod http;
pub mod store;
pub mod telemetry;

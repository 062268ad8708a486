//! Logging. Business events are INFO, request traces DEBUG (audit #19); JSON lines with
//! `PROXYCALL_LOG_JSON=true`. Phone numbers and e-mails are masked where they are logged
//! (`E164::masked`, `Email::masked`), and their `Debug` forms are masked too.

use tracing_subscriber::EnvFilter;

/// `level` is a plain level (`info`) or a full filter (`info,proxycall=debug`).
pub fn init(level: &str, json: bool) {
    let directives = if level.contains('=') {
        level.to_owned()
    } else {
        // Libraries stay quiet unless asked: their debug lines are not ours to ship.
        format!("{level},sqlx=warn,hyper=warn,h2=warn,reqwest=warn")
    };
    let filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Logs on stderr: stdout is for what a command prints (a key, the demo, a listing).
        .with_writer(std::io::stderr);
    let result = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
    // Already initialised (tests start several servers in one process): keep the first.
    let _ = result;
}

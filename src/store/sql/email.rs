//! Placeholder until the e-mail outbox lands (branch `mail`).

macro_rules! insert_email {
    ($tx:expr, $email:expr, $send_at:expr, $now:expr) => {{
        let _ = (&$tx, $email, $send_at, $now);
    }};
}
pub(crate) use insert_email;

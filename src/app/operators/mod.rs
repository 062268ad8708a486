//! The dashboard's operators: accounts (`accounts.rs`), their passwords (`password.rs`), login
//! and sessions (`sessions.rs`), the TOTP second factor (`totp.rs`) and the audit log
//! (`audit.rs`). The HTTP pages (`http/admin/`) and the `operators` command both call these.

pub mod accounts;
pub mod audit;
pub mod password;
pub mod sessions;
pub mod totp;

use sha2::{Digest, Sha256};

pub use audit::Actor;

/// SHA-256, hexadecimal: how session tokens, recovery codes and typed e-mails are kept.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A random token of 256 bits, hexadecimal.
pub fn random_token() -> String {
    use rand::RngExt;
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    hex::encode(bytes)
}

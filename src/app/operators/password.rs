//! Passwords, hashed with Argon2id (its default parameters: 19 MiB, 2 passes). Hashing is
//! slow on purpose, so it runs off the async workers.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::OnceLock;

use crate::app::{AppError, AppResult};

pub const MIN_LENGTH: usize = 12;
/// Beyond this a password is a denial of service, not a secret.
pub const MAX_LENGTH: usize = 256;

/// Checks a new password's length, naming the field.
pub fn check(password: &str) -> AppResult<()> {
    let length = password.chars().count();
    let message = if length < MIN_LENGTH {
        format!("must be at least {MIN_LENGTH} characters long (it has {length})")
    } else if length > MAX_LENGTH {
        format!("must be at most {MAX_LENGTH} characters long")
    } else {
        return Ok(());
    };
    Err(AppError::Invalid {
        field: "password",
        message,
    })
}

/// The PHC string (`$argon2id$v=19$…`) of a new password.
pub async fn hash(password: &str) -> AppResult<String> {
    check(password)?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| AppError::Store(crate::store::StoreError::Unavailable(e.to_string())))?
    .map_err(|e| AppError::Store(crate::store::StoreError::Unavailable(e.to_string())))
}

/// Whether `password` is the one `phc` was made from. `None` checks against a hash of no
/// one's password, so that an unknown e-mail takes as long as a wrong password.
pub async fn verify(password: &str, phc: Option<&str>) -> bool {
    let password = password.to_owned();
    let (phc, real) = match phc {
        Some(phc) => (phc.to_owned(), true),
        None => (dummy().to_owned(), false),
    };
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        matches && real
    })
    .await
    .unwrap_or(false)
}

/// Makes the dummy hash now, so that the first unknown e-mail does not take twice as long
/// as a wrong password (which would tell it apart). Blocks for one hash.
pub fn warm() {
    dummy();
}

/// A hash made once per process, from a random password nobody knows.
fn dummy() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(super::random_token().as_bytes())
            .map(|h| h.to_string())
            .expect("Argon2 hashes a random password")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let phc = hash("correct horse battery").await.unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify("correct horse battery", Some(&phc)).await);
        assert!(!verify("correct horse batterY", Some(&phc)).await);
        assert!(!verify("correct horse battery", None).await);
    }

    #[test]
    fn short_passwords_are_refused_with_their_length() {
        let e = check("short").unwrap_err().to_string();
        assert!(e.starts_with("password: must be at least 12"), "{e}");
        assert!(check("twelve chars").is_ok());
    }
}

//! One-time codes and link tokens: made from a cryptographic source, kept only as hashes.

use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::PendingId;
use crate::store::CodeHash;

/// Digits in a code.
pub const CODE_DIGITS: usize = 6;

/// The key codes are hashed with (`PROXYCALL_OTP_SECRET`, or one kept in the database).
#[derive(Clone)]
pub struct CodeKey(Vec<u8>);

impl CodeKey {
    pub fn new(key: &[u8]) -> Self {
        Self(key.to_vec())
    }

    /// A key of this process only: for an application that never shares its codes (tests of
    /// other areas, tools).
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill(&mut bytes);
        Self(bytes.to_vec())
    }

    /// A key for another purpose, derived from this one (HMAC of `purpose`): the operators'
    /// TOTP secrets are sealed with one, so that they too need `PROXYCALL_OTP_SECRET`.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The keyed hash of `code` for activation `id`: the id is part of the input, so that one
    /// activation's hash says nothing of another's.
    pub fn hash(&self, id: &PendingId, code: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(id.as_str().as_bytes());
        mac.update(b":");
        mac.update(code.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `code` is one of `live`, compared in constant time (every hash is compared,
    /// whatever matched).
    pub fn matches(&self, id: &PendingId, code: &str, live: &[CodeHash]) -> bool {
        let candidate = self.hash(id, code);
        live.iter().fold(false, |found, h| {
            found | bool::from(candidate.as_bytes().ct_eq(h.hash.as_bytes()))
        })
    }
}

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey(..)")
    }
}

/// A new code: 6 digits, the first not 0, from the thread's cryptographically secure
/// generator (ChaCha, seeded by the operating system).
pub fn new_code() -> String {
    let n: u32 = rand::rng().random_range(100_000..1_000_000);
    n.to_string()
}

/// A new link token (256 random bits, URL-safe) and the hash kept of it. A random token needs
/// no key: nothing can be guessed from its hash.
pub fn new_link_token() -> (String, String) {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = link_token_hash(&token);
    (token, hash)
}

pub fn link_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A code's digits read one by one, as the earlier call did: `1. 2. 3. 4. 5. 6`.
pub fn spoken(code: &str) -> String {
    code.chars()
        .map(String::from)
        .collect::<Vec<_>>()
        .join(". ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_six_digits_and_never_start_with_zero() {
        for _ in 0..2000 {
            let c = new_code();
            assert_eq!(c.len(), CODE_DIGITS);
            assert!(c.chars().all(|c| c.is_ascii_digit()));
            assert_ne!(c.as_bytes()[0], b'0');
        }
    }

    #[test]
    fn a_code_matches_only_its_own_activation_and_key() {
        let key = CodeKey::new(b"k1");
        let id = PendingId::parse("P-1").unwrap();
        let live = vec![CodeHash {
            hash: key.hash(&id, "482913"),
            expires_at: chrono::Utc::now(),
        }];
        assert!(key.matches(&id, "482913", &live));
        assert!(!key.matches(&id, "482914", &live));
        assert!(!key.matches(&PendingId::parse("P-2").unwrap(), "482913", &live));
        assert!(!CodeKey::new(b"k2").matches(&id, "482913", &live));
        assert_ne!(key.hash(&id, "482913"), "482913");
    }

    #[test]
    fn link_tokens_are_long_and_hashed() {
        let (token, hash) = new_link_token();
        assert!(token.len() >= 43);
        assert_eq!(link_token_hash(&token), hash);
        assert_eq!(spoken("123456"), "1. 2. 3. 4. 5. 6");
    }
}

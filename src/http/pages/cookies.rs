//! The pages' two cookies: the form's CSRF token and the activation this browser started.
//!
//! Both are `HttpOnly` (no script reads them; the pages have none anyway) and
//! `SameSite=Strict` (another site's page cannot make the browser send them). When
//! `PUBLIC_BASE_URL` is https they are `Secure` and carry the `__Host-` prefix, which makes the
//! browser refuse one set by a sibling sub-domain or over plain HTTP: a double-submit token is
//! only as good as the guarantee that nobody else can plant the cookie.

use axum::http::{HeaderMap, HeaderValue, header};
use rand::RngExt;
use subtle::ConstantTimeEq;

use crate::http::AppState;

/// What a token of ours looks like: 32 random bytes, hexadecimal.
const TOKEN_HEX: usize = 64;

#[derive(Clone, Copy)]
pub enum Cookie {
    /// The form's double-submit token.
    Csrf,
    /// The `pending_id` of the activation this browser started: its status page shows it only
    /// to that browser.
    Activation,
}

impl Cookie {
    fn name(self, secure: bool) -> &'static str {
        match (self, secure) {
            (Self::Csrf, true) => "__Host-pc_csrf",
            (Self::Csrf, false) => "pc_csrf",
            (Self::Activation, true) => "__Host-pc_activation",
            (Self::Activation, false) => "pc_activation",
        }
    }

    /// This cookie's value in the request, if it has one.
    pub fn read(self, state: &AppState, headers: &HeaderMap) -> Option<String> {
        let name = self.name(secure(state));
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|line| line.to_str().ok())
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value.trim_matches('"').to_owned())
    }

    /// A `Set-Cookie` for `value`, for the browser's session. The value is ours (hexadecimal
    /// or a parsed `PendingId`), so it needs no quoting.
    pub fn set(self, state: &AppState, value: &str) -> HeaderValue {
        let secure = secure(state);
        let mut cookie = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Strict",
            self.name(secure)
        );
        if secure {
            cookie.push_str("; Secure");
        }
        HeaderValue::from_str(&cookie).expect("a cookie of ours is a valid header")
    }
}

/// Pages served over https get `Secure` cookies.
fn secure(state: &AppState) -> bool {
    state
        .settings
        .public_base_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"))
}

/// A new CSRF token.
pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_HEX / 2];
    rand::rng().fill(&mut bytes);
    hex::encode(bytes)
}

/// The request's CSRF cookie, when it holds a token of our shape.
pub fn csrf_token(state: &AppState, headers: &HeaderMap) -> Option<String> {
    Cookie::Csrf
        .read(state, headers)
        .filter(|t| t.len() == TOKEN_HEX && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether the form's token is the cookie's, compared in constant time.
pub fn same(cookie: Option<&str>, field: &str) -> bool {
    cookie.is_some_and(|c| !c.is_empty() && bool::from(c.as_bytes().ct_eq(field.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_themselves() {
        let token = new_token();
        assert_eq!(token.len(), TOKEN_HEX);
        assert!(same(Some(&token), &token));
        assert!(!same(Some(&token), &new_token()));
        assert!(!same(Some(&token), ""));
        assert!(!same(None, &token));
        assert!(!same(Some(""), ""));
    }
}

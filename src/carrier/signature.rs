//! Twilio's request signature: `X-Twilio-Signature` is the Base64 HMAC-SHA1, keyed by the
//! account's auth token, of the URL Twilio called followed by every form parameter, sorted by
//! name, as name then value.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

fn sorted(params: &[(String, String)]) -> Vec<&(String, String)> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted
}

fn mac(auth_token: &[u8], url: &str, sorted: &[&(String, String)]) -> HmacSha1 {
    let mut mac = HmacSha1::new_from_slice(auth_token).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The signature Twilio sends for this request.
pub fn sign(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(
        mac(auth_token, url, &sorted(params))
            .finalize()
            .into_bytes(),
    )
}

/// Whether `signature` is right, compared in constant time.
pub fn verify(auth_token: &[u8], url: &str, params: &[(String, String)], signature: &str) -> bool {
    verify_any(&[auth_token], &[url.to_owned()], "", params, signature)
}

/// Whether `signature` is right for one of the auth tokens (the current one, and during a
/// rotation the previous one) over one of the URLs `base` + `path_and_query`, where `bases`
/// are a public base's [`base_variants`]. Each comparison is in constant time.
pub fn verify_any(
    auth_tokens: &[&[u8]],
    bases: &[String],
    path_and_query: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let Ok(given) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let sorted = sorted(params);
    auth_tokens.iter().any(|token| {
        bases.iter().any(|base| {
            mac(token, &format!("{base}{path_and_query}"), &sorted)
                .verify_slice(&given)
                .is_ok()
        })
    })
}

/// The URLs Twilio may have signed for a public base (scheme and authority, perhaps a path):
/// the base as given, and the same with the scheme's default port (`:443`, `:80`) added when
/// it has no port, or removed when it has that one. Twilio's own request validators accept
/// both, since what Twilio signs is the URL as configured on the number, which may differ
/// from ours by that port.
pub fn base_variants(base: &str) -> Vec<String> {
    let mut variants = vec![base.to_owned()];
    let Some((scheme, rest)) = base.split_once("://") else {
        return variants;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    // The port is after the last ':' of the host, which may be an IPv6 literal in brackets.
    let host_starts = authority.rfind(['@', ']']).map_or(0, |i| i + 1);
    match authority[host_starts..].rfind(':') {
        None => variants.push(format!("{scheme}://{authority}:{default}{path}")),
        Some(colon) => {
            let (host, port) = authority.split_at(host_starts + colon);
            if &port[1..] == default {
                variants.push(format!("{scheme}://{host}{path}"));
            }
        }
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The vector of Twilio's own request-validator tests (twilio-php, twilio-csharp),
    /// parameters given out of order on purpose.
    #[test]
    fn matches_twilios_published_vector() {
        let params = p(&[
            ("From", "+14158675309"),
            ("CallSid", "CA1234567890ABCDE"),
            ("To", "+18005551212"),
            ("Digits", "1234"),
            ("Caller", "+14158675309"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let signature = sign(b"12345", url, &params);
        assert_eq!(signature, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(verify(b"12345", url, &params, &signature));
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let params = p(&[("From", "+33612345678"), ("To", "+33780000001")]);
        let url = "https://proxycall.example.com/twilio/voice";
        let good = sign(b"token", url, &params);
        assert!(!verify(b"other", url, &params, &good));
        assert!(!verify(
            b"token",
            "https://evil.example.com/twilio/voice",
            &params,
            &good
        ));
        let forged = p(&[("From", "+33612345679"), ("To", "+33780000001")]);
        assert!(!verify(b"token", url, &forged, &good));
        assert!(!verify(b"token", url, &params, "not base64!"));
        assert!(!verify(b"token", url, &params, ""));
    }

    #[test]
    fn the_default_port_is_accepted_with_and_without() {
        for (base, expected) in [
            (
                "https://example.com",
                &["https://example.com", "https://example.com:443"][..],
            ),
            (
                "https://example.com:443",
                &["https://example.com:443", "https://example.com"],
            ),
            (
                "http://example.com",
                &["http://example.com", "http://example.com:80"],
            ),
            (
                "http://example.com:80/hooks",
                &["http://example.com:80/hooks", "http://example.com/hooks"],
            ),
            (
                "https://example.com/hooks",
                &["https://example.com/hooks", "https://example.com:443/hooks"],
            ),
            (
                "https://[2001:db8::1]",
                &["https://[2001:db8::1]", "https://[2001:db8::1]:443"],
            ),
            (
                "https://[2001:db8::1]:443",
                &["https://[2001:db8::1]:443", "https://[2001:db8::1]"],
            ),
            // Another port is the port: nothing else is signed.
            ("https://example.com:8443", &["https://example.com:8443"]),
            ("http://127.0.0.1:8000", &["http://127.0.0.1:8000"]),
            ("http://example.com:443", &["http://example.com:443"]),
        ] {
            assert_eq!(base_variants(base), expected, "{base}");
        }
    }

    #[test]
    fn either_token_and_either_form_of_the_url_pass() {
        let params = p(&[("From", "+33612345678"), ("To", "+33780000001")]);
        let bases = base_variants("https://proxycall.example.com");
        let tokens: [&[u8]; 2] = [b"current", b"previous"];
        for token in tokens {
            for url in [
                "https://proxycall.example.com/twilio/voice?x=1",
                "https://proxycall.example.com:443/twilio/voice?x=1",
            ] {
                let signature = sign(token, url, &params);
                assert!(
                    verify_any(&tokens, &bases, "/twilio/voice?x=1", &params, &signature),
                    "{url}"
                );
                // Only the current token once the rotation is over.
                assert_eq!(
                    verify_any(
                        &tokens[..1],
                        &bases,
                        "/twilio/voice?x=1",
                        &params,
                        &signature
                    ),
                    token == b"current"
                );
            }
        }
        for url in [
            "https://proxycall.example.com:8443/twilio/voice?x=1",
            "http://proxycall.example.com/twilio/voice?x=1",
            "https://proxycall.example.com/twilio/voice?x=2",
        ] {
            let signature = sign(b"current", url, &params);
            assert!(
                !verify_any(&tokens, &bases, "/twilio/voice?x=1", &params, &signature),
                "{url}"
            );
        }
        let other = sign(
            b"other",
            "https://proxycall.example.com/twilio/voice?x=1",
            &params,
        );
        assert!(!verify_any(
            &tokens,
            &bases,
            "/twilio/voice?x=1",
            &params,
            &other
        ));
    }
}

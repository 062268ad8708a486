//! Twilio's request signature: `X-Twilio-Signature` is the Base64 HMAC-SHA1, keyed by the
//! account's auth token, of the URL Twilio called followed by every form parameter, sorted by
//! name, as name then value.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

fn mac(auth_token: &[u8], url: &str, params: &[(String, String)]) -> HmacSha1 {
    let mut mac = HmacSha1::new_from_slice(auth_token).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The signature Twilio sends for this request.
pub fn sign(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `signature` is right, compared in constant time.
pub fn verify(auth_token: &[u8], url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(given) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    mac(auth_token, url, params).verify_slice(&given).is_ok()
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
}

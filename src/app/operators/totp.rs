//! The second factor: TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of skew, as
//! every authenticator app reads them), enrolled with a QR code drawn here as SVG, and ten
//! single-use recovery codes shown once and kept as SHA-256. The secret is kept sealed
//! (XChaCha20-Poly1305, bound to the operator's id) with a key derived from the activation
//! codes' key — `PROXYCALL_OTP_SECRET` when set — so that a copy of the database alone does
//! not give it away.

use chrono::Utc;
use rand::RngExt;
use serde_json::json;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::{Actor, audit, sha256_hex};
use crate::app::{App, AppError, AppResult};
use crate::store::Operator;

const ISSUER: &str = "ProxyCall";
pub const RECOVERY_CODES: usize = 10;
/// Lower-case base32 without look-alikes' confusion: what a person copies from a sheet.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// What the `totp_secret` column holds: `x1:` + hex(nonce ‖ sealed secret).
const SEALED: &str = "x1:";

fn cipher(app: &App) -> chacha20poly1305::XChaCha20Poly1305 {
    use chacha20poly1305::KeyInit;
    let key = app.activation.key.derive("operator totp secret");
    chacha20poly1305::XChaCha20Poly1305::new_from_slice(&key).expect("a 32-byte key")
}

/// Seals a base32 secret for the operator `id`.
fn seal(app: &App, id: i64, secret_b32: &str) -> String {
    use chacha20poly1305::aead::{Aead, Payload};
    let mut nonce = [0u8; 24];
    rand::rng().fill(&mut nonce);
    let aad = id.to_be_bytes();
    let sealed = cipher(app)
        .encrypt(
            &nonce.into(),
            Payload {
                msg: secret_b32.as_bytes(),
                aad: &aad,
            },
        )
        .expect("sealing a short secret cannot fail");
    format!("{SEALED}{}{}", hex::encode(nonce), hex::encode(sealed))
}

/// The base32 secret of the operator, if it has one that this key opens.
fn open(app: &App, operator: &Operator) -> Option<String> {
    use chacha20poly1305::aead::{Aead, Payload};
    let stored = operator.totp_secret.as_deref()?;
    let bytes = hex::decode(stored.strip_prefix(SEALED)?).ok()?;
    if bytes.len() <= 24 {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().ok()?;
    let aad = operator.id.to_be_bytes();
    let opened = cipher(app).decrypt(
        &nonce.into(),
        Payload {
            msg: sealed,
            aad: &aad,
        },
    );
    match opened {
        Ok(secret) => String::from_utf8(secret).ok(),
        Err(_) => {
            // Another key than the one it was sealed with: PROXYCALL_OTP_SECRET changed.
            tracing::error!(
                operator = %operator.email.masked(),
                "this operator's TOTP secret does not open with this key (was \
                 PROXYCALL_OTP_SECRET changed?): only its recovery codes work"
            );
            None
        }
    }
}

fn totp(secret_b32: &str, account: &str) -> AppResult<Totp> {
    let corrupt = || {
        AppError::Store(crate::store::StoreError::Corrupt {
            column: "totp_secret",
        })
    };
    let secret = Secret::try_from_base32(secret_b32).map_err(|_| corrupt())?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(account.replace(':', ""))
        .build()
        .map_err(|_| corrupt())
}

/// The step of a right code for `secret` now, if `code` is one (spaces ignored).
pub fn check_code(secret_b32: &str, code: &str) -> AppResult<Option<i64>> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let now = Utc::now().timestamp().max(0) as u64;
    Ok(totp(secret_b32, "x")?
        .check(&code, now)
        .and_then(|step| i64::try_from(step).ok()))
}

/// The code an authenticator shows at `at`: what tests type.
pub fn code_at(secret_b32: &str, at: chrono::DateTime<Utc>) -> AppResult<String> {
    Ok(totp(secret_b32, "x")?
        .generate(at.timestamp().max(0) as u64)
        .to_string())
}

/// What the enrolment page shows.
pub struct Enrolment {
    /// Base32, for typing into an app without a camera.
    pub secret: String,
    /// `otpauth://totp/…`: what the QR code holds.
    pub url: String,
    /// The QR code, as an `<svg>` element.
    pub qr_svg: String,
}

/// Starts an enrolment (or shows the one under way again: a reload must not change the
/// secret the operator may have scanned already).
pub async fn start_enrolment(app: &App, operator: &Operator) -> AppResult<Enrolment> {
    if operator.totp_enabled {
        return Err(AppError::Invalid {
            field: "totp",
            message: "the second factor is on already".into(),
        });
    }
    let secret = match open(app, operator) {
        Some(secret) => secret,
        None => {
            let mut bytes = [0u8; 20];
            rand::rng().fill(&mut bytes);
            let secret = Secret::from(bytes.to_vec()).to_base32();
            app.store
                .begin_totp(operator.id, &seal(app, operator.id, &secret), Utc::now())
                .await?;
            secret
        }
    };
    let url = totp(&secret, operator.email.as_str())?
        .to_url()
        .map_err(|e| AppError::Invalid {
            field: "totp",
            message: e.to_string(),
        })?;
    Ok(Enrolment {
        qr_svg: qr_svg(&url)?,
        secret,
        url,
    })
}

fn qr_svg(text: &str) -> AppResult<String> {
    use qrcode::QrCode;
    use qrcode::render::svg;
    let code = QrCode::new(text.as_bytes()).map_err(|e| AppError::Invalid {
        field: "totp",
        message: e.to_string(),
    })?;
    let svg = code
        .render::<svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    // The element alone, to sit inside the page.
    Ok(match svg.find("<svg") {
        Some(start) => svg[start..].to_owned(),
        None => svg,
    })
}

/// Confirms the enrolment with a code from the app; the recovery codes to show once, or
/// `None` when the code is wrong.
pub async fn confirm_enrolment(
    app: &App,
    operator: &Operator,
    code: &str,
) -> AppResult<Option<Vec<String>>> {
    let Some(secret) = open(app, operator).filter(|_| !operator.totp_enabled) else {
        return Ok(None);
    };
    let Some(step) = check_code(&secret, code)? else {
        return Ok(None);
    };
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let hashes: Vec<String> = codes.iter().map(|c| sha256_hex(&normalise(c))).collect();
    if !app
        .store
        .enable_totp(operator.id, step, &hashes, Utc::now())
        .await?
    {
        return Ok(None);
    }
    audit::record(
        app,
        &Actor::operator(operator),
        "totp.enrol",
        Some(operator.email.as_str()),
        json!({ "recovery_codes": RECOVERY_CODES }),
    )
    .await?;
    tracing::info!(operator = %operator.email.masked(), "second factor enrolled");
    Ok(Some(codes))
}

/// Recovery codes not used yet.
pub async fn recovery_codes_left(app: &App, operator: &Operator) -> AppResult<i64> {
    Ok(app.store.recovery_codes_left(operator.id).await?)
}

/// Turns the second factor off, given a code from the app (or a recovery code); whether the
/// code was right.
pub async fn disable(app: &App, operator: &Operator, code: &str) -> AppResult<bool> {
    if !operator.totp_enabled {
        return Ok(false);
    }
    if verify(app, operator, code).await?.is_none() {
        return Ok(false);
    }
    app.store.disable_totp(operator.id, Utc::now()).await?;
    audit::record(
        app,
        &Actor::operator(operator),
        "totp.disable",
        Some(operator.email.as_str()),
        json!({}),
    )
    .await?;
    tracing::info!(operator = %operator.email.masked(), "second factor turned off");
    Ok(true)
}

/// How a second factor was proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    Code,
    RecoveryCode,
}

impl Proof {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "totp",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

/// Checks a code from the app (each accepted once) or an unused recovery code (then used up).
pub async fn verify(app: &App, operator: &Operator, code: &str) -> AppResult<Option<Proof>> {
    if !operator.totp_enabled {
        return Ok(None);
    }
    let secret = open(app, operator);
    if let Some(step) = secret
        .as_deref()
        .map(|s| check_code(s, code))
        .transpose()?
        .flatten()
    {
        let fresh = app.store.accept_totp_step(operator.id, step).await?;
        return Ok(fresh.then_some(Proof::Code));
    }
    let recovery = normalise(code);
    if recovery.len() == 10 && recovery.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)) {
        let used = app
            .store
            .use_recovery_code(operator.id, &sha256_hex(&recovery), Utc::now())
            .await?;
        return Ok(used.then_some(Proof::RecoveryCode));
    }
    Ok(None)
}

/// `abcde-fghij`.
fn recovery_code() -> String {
    let mut rng = rand::rng();
    let chars: String = (0..10)
        .map(|_| RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A recovery code as typed: dashes and spaces dropped, lower case.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_s_sha1_vector() {
        // RFC 6238, appendix B: the key "12345678901234567890", T = 59 s → 94287082 (8
        // digits); its last 6 digits are what a 6-digit authenticator shows.
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        let totp = totp(&secret, "a@example.com").unwrap();
        assert_eq!(totp.generate(59).to_string(), "287082");
    }

    #[test]
    fn the_current_code_passes_and_others_do_not() {
        let secret = Secret::from([7u8; 20].to_vec()).to_base32();
        let code = code_at(&secret, Utc::now()).unwrap();
        assert!(check_code(&secret, &code).unwrap().is_some());
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        assert!(check_code(&secret, &wrong).unwrap().is_none());
        assert!(check_code(&secret, "abcdef").unwrap().is_none());
    }

    #[test]
    fn recovery_codes_are_read_as_typed() {
        let code = recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(
            normalise(&code.to_uppercase().replace('-', " ")),
            code.replace('-', "")
        );
    }

    #[test]
    fn the_qr_code_is_an_svg_element() {
        let svg = qr_svg("otpauth://totp/ProxyCall:a@example.com?secret=AAAA").unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("style") && !svg.contains("<script"), "{svg}");
    }
}

//! Webhooks sent as Twilio sends them: form parameters signed with `X-Twilio-Signature`.
//! `proxycall simulate`, the demo and the benchmark use it against a running server.

use crate::carrier::signature;

/// Posts `params` to `base` + `path`, signed with `token` over that URL.
pub async fn post_webhook(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    token: &[u8],
    params: &[(&str, &str)],
) -> Result<(u16, String), reqwest::Error> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let response = http
        .post(&url)
        .header("x-twilio-signature", signature::sign(token, &url, &owned))
        .form(params)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// A call from `from` to the proxy `to`, as Twilio announces it.
pub fn call_params<'a>(from: &'a str, to: &'a str, call_sid: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", "ACsimulated"),
        ("CallSid", call_sid),
        ("From", from),
        ("To", to),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
}

/// A text from `from` to the proxy `to`, as Twilio announces it.
pub fn sms_params<'a>(
    from: &'a str,
    to: &'a str,
    body: &'a str,
    message_sid: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", "ACsimulated"),
        ("MessageSid", message_sid),
        ("SmsSid", message_sid),
        ("From", from),
        ("To", to),
        ("Body", body),
        ("NumMedia", "0"),
    ]
}

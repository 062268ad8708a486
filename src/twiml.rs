//! TwiML answers, with XML escaping of everything that comes from data.

use quick_xml::escape::{escape, partial_escape};

use crate::domain::E164;

const HEADER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// `<Response />`: do nothing (an SMS needing no reply, a status callback).
pub fn empty() -> String {
    format!("{HEADER}<Response />")
}

/// Speaks `text` in `language` (e.g. `fr-FR`).
pub fn say(language: &str, text: &str) -> String {
    format!(
        r#"{HEADER}<Response><Say language="{}">{}</Say></Response>"#,
        escape(language),
        partial_escape(text)
    )
}

/// Connects the call to `number`, showing `caller_id` (the proxy) to the person called.
pub fn dial(caller_id: &E164, number: &E164) -> String {
    format!(
        r#"{HEADER}<Response><Dial callerId="{}"><Number>{}</Number></Dial></Response>"#,
        escape(caller_id.as_str()),
        partial_escape(number.as_str())
    )
}

/// Connects a third party's call to the client: after `timeout` seconds of ringing, or when
/// the dial ends, Twilio asks `action` what next (the missed-call and voicemail path). With
/// `whisper`, the client first hears the TwiML at that address.
pub fn dial_client(
    caller_id: &E164,
    number: &E164,
    action: &str,
    timeout: u32,
    whisper: Option<&str>,
) -> String {
    let url = whisper
        .map(|u| format!(r#" url="{}" method="POST""#, escape(u)))
        .unwrap_or_default();
    format!(
        r#"{HEADER}<Response><Dial callerId="{}" action="{}" method="POST" timeout="{timeout}"><Number{url}>{}</Number></Dial></Response>"#,
        escape(caller_id.as_str()),
        escape(action),
        partial_escape(number.as_str())
    )
}

/// Says `prompt`, then records a message of at most `max_length` seconds after a beep; the
/// recording ends at `action`, and Twilio reports the recording at `status_callback`.
pub fn record(
    language: &str,
    prompt: &str,
    max_length: u32,
    action: &str,
    status_callback: &str,
) -> String {
    format!(
        r#"{HEADER}<Response><Say language="{}">{}</Say><Record maxLength="{max_length}" playBeep="true" action="{}" method="POST" recordingStatusCallback="{}" recordingStatusCallbackMethod="POST" /></Response>"#,
        escape(language),
        partial_escape(prompt),
        escape(action),
        escape(status_callback),
    )
}

/// The verification call: reads `spoken` (the code, digit by digit) twice, then gathers
/// `digits` key presses, posted to `action`.
pub fn read_code(
    language: &str,
    words: &crate::messages::Catalogue,
    spoken: &str,
    action: &str,
    digits: usize,
) -> String {
    let say = |text: &str| {
        format!(
            r#"<Say language="{}">{}</Say>"#,
            escape(language),
            partial_escape(text)
        )
    };
    format!(
        r#"{HEADER}<Response>{}<Pause length="1" />{}<Pause length="1" />{}<Pause length="1" />{}<Pause length="1" />{}</Response>"#,
        say(&words.otp_call_intro),
        say(spoken),
        say(&words.otp_call_repeat),
        say(spoken),
        gather(
            language,
            action,
            digits,
            &words.otp_call_prompt,
            &words.otp_call_no_input
        ),
    )
}

/// Asks again for the code after a wrong one.
pub fn gather_again(
    language: &str,
    words: &crate::messages::Catalogue,
    action: &str,
    digits: usize,
) -> String {
    format!(
        r#"{HEADER}<Response><Say language="{}">{}</Say>{}</Response>"#,
        escape(language),
        partial_escape(&words.otp_gather_wrong),
        gather(
            language,
            action,
            digits,
            &words.otp_gather_again,
            &words.otp_goodbye
        ),
    )
}

/// A keypad menu: `first` (if any), then `lines` said while one key is awaited (posted to
/// `action`); without a key, `default` is dialled showing `caller_id`.
pub fn menu(
    language: &str,
    first: Option<&str>,
    lines: &[String],
    action: &str,
    caller_id: &E164,
    default: &E164,
) -> String {
    let say = |text: &str| {
        format!(
            r#"<Say language="{}">{}</Say>"#,
            escape(language),
            partial_escape(text)
        )
    };
    let said: String = lines.iter().map(|l| say(l)).collect();
    format!(
        r#"{HEADER}<Response>{}<Gather action="{}" method="POST" numDigits="1" timeout="4">{said}</Gather><Dial callerId="{}"><Number>{}</Number></Dial></Response>"#,
        first.map(say).unwrap_or_default(),
        escape(action),
        escape(caller_id.as_str()),
        partial_escape(default.as_str()),
    )
}

/// `<Gather>` of `digits` key presses, saying `prompt`; `after` is said when none came.
fn gather(language: &str, action: &str, digits: usize, prompt: &str, after: &str) -> String {
    format!(
        r#"<Gather action="{}" method="POST" numDigits="{digits}" timeout="15"><Say language="{lang}">{}</Say></Gather><Say language="{lang}">{}</Say>"#,
        escape(action),
        partial_escape(prompt),
        partial_escape(after),
        lang = escape(language),
    )
}

/// Replies to the sender with a text.
pub fn message(text: &str) -> String {
    format!(
        "{HEADER}<Response><Message>{}</Message></Response>",
        partial_escape(text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_the_earlier_versions_twiml() {
        let proxy = E164::parse_shape("+33780000001").unwrap();
        let client = E164::parse_shape("+33612345678").unwrap();
        assert_eq!(
            dial(&proxy, &client),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId="+33780000001"><Number>+33612345678</Number></Dial></Response>"#
        );
        assert_eq!(
            say("fr-FR", "Aucun appelant récent."),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say language="fr-FR">Aucun appelant récent.</Say></Response>"#
        );
        assert_eq!(
            empty(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response />"#
        );
    }

    #[test]
    fn a_call_to_the_client_asks_what_next_and_may_whisper_first() {
        let proxy = E164::parse_shape("+33780000001").unwrap();
        let client = E164::parse_shape("+33612345678").unwrap();
        assert_eq!(
            dial_client(
                &proxy,
                &client,
                "https://p.example/twilio/voice/dial-status",
                25,
                None
            ),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId="+33780000001" action="https://p.example/twilio/voice/dial-status" method="POST" timeout="25"><Number>+33612345678</Number></Dial></Response>"#
        );
        assert!(
            dial_client(
                &proxy,
                &client,
                "a",
                25,
                Some("https://p.example/w?order_id=A&B")
            )
            .contains(r#"<Number url="https://p.example/w?order_id=A&amp;B" method="POST">"#)
        );
        assert_eq!(
            record(
                "fr-FR",
                "Laissez un message.",
                120,
                "https://p.example/a",
                "https://p.example/s"
            ),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say language="fr-FR">Laissez un message.</Say><Record maxLength="120" playBeep="true" action="https://p.example/a" method="POST" recordingStatusCallback="https://p.example/s" recordingStatusCallbackMethod="POST" /></Response>"#
        );
    }

    #[test]
    fn text_from_data_is_escaped() {
        assert_eq!(
            message("<Dial>+1</Dial> & co"),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>&lt;Dial&gt;+1&lt;/Dial&gt; &amp; co</Message></Response>"#
        );
        assert!(say("fr\"x", "a").contains(r#"language="fr&quot;x""#));
    }
}

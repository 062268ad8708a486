//! `Debug` forms of the types that carry a text's body (an SMS relayed between a client and a
//! third party): the body shows as its length, never its words, so that no `{:?}` — in a log
//! line, a panic or a test's failure message — can print one. The other fields that identify
//! the value are shown (phone numbers are masked by their own `Debug`).

use std::fmt;

use crate::app::routing::Text;
use crate::carrier::SentMessage;
use crate::store::{NewOutbound, OutboundMessage, SimulatedDelivery};

/// A body as `Debug` shows it.
struct Body<'a>(Option<&'a str>);

impl fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(body) => write!(f, "[{} characters]", body.chars().count()),
            None => f.write_str("None"),
        }
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Text")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("body", &Body(Some(&self.body)))
            .field("sid", &self.sid)
            .field("media", &self.media)
            .finish()
    }
}

impl fmt::Debug for NewOutbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewOutbound")
            .field("kind", &self.kind)
            .field("purpose", &self.purpose)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("body", &Body(self.body.as_deref()))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for OutboundMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundMessage")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("purpose", &self.purpose)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("body", &Body(self.body.as_deref()))
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SimulatedDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedDelivery")
            .field("kind", &self.kind)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("body", &Body(self.body.as_deref()))
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SentMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentMessage")
            .field("sid", &self.sid)
            .field("body", &Body(self.body.as_deref()))
            .field("created_at", &self.created_at)
            .field("status", &self.status)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::E164;
    use crate::store::OutboundKind;

    #[test]
    fn no_body_shows_in_debug() {
        let body = "Digicode 4821B, 3e étage";
        let (from, to) = (
            E164::parse("+33780000001").unwrap(),
            E164::parse("+33612345678").unwrap(),
        );
        let shown = [
            format!(
                "{:?}",
                Text {
                    from: Some(from.clone()),
                    to: Some(to.clone()),
                    body: body.into(),
                    sid: Some("SM1".into()),
                    media: Default::default(),
                }
            ),
            format!(
                "{:#?}",
                NewOutbound {
                    kind: OutboundKind::Sms,
                    purpose: "relay",
                    from: from.clone(),
                    to: to.clone(),
                    body: Some(body.into()),
                    url: None,
                    dedupe_key: None,
                    relay: None,
                }
            ),
            format!(
                "{:?}",
                SimulatedDelivery {
                    kind: "sms".into(),
                    from: from.clone(),
                    to: to.clone(),
                    body: Some(body.into()),
                    url: None,
                    sid: "SM2".into(),
                    delivered_at: Utc::now(),
                    media: Vec::new(),
                }
            ),
        ];
        for shown in shown {
            assert!(!shown.contains("4821B"), "{shown}");
            assert!(shown.contains("[24 characters]"), "{shown}");
            assert!(!shown.contains("612345678"), "{shown}");
        }
    }
}

//! What a relayed text carries: its body, its pictures where the destination takes them (an
//! MMS goes to US and Canadian numbers only: `domain::takes_pictures`), elsewhere a line
//! saying a picture could not be forwarded; and its sender, whom a final failure bounces to
//! (`store::Bounce`).

use super::Text;
use crate::app::Routing;
use crate::domain::{E164, MediaOrigin, takes_pictures};
use crate::messages::{Catalogue, Language, RelayWords};
use crate::store::{Bounce, NewOutbound, OutboundKind, Relay};

/// How relays treat pictures and final failures.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Where the pictures of an MMS must be kept: the carrier's API (`TWILIO_API_BASE`).
    pub media_origin: MediaOrigin,
    /// What a relay adds (a picture not forwarded) and what a failed one sends back.
    pub words: &'static RelayWords,
    /// `PROXYCALL_BOUNCE_FAILED_TEXTS`: a relay that finally fails bounces to its sender.
    pub bounce: bool,
    /// `PROXYCALL_RELAY_PICTURES`: pictures go on where the destination takes MMS.
    pub pictures: bool,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            media_origin: MediaOrigin::twilio(),
            words: &Catalogue::get(Language::Fr).relay,
            bounce: true,
            pictures: true,
        }
    }
}

impl RelaySettings {
    /// The bounce a final failure queues, unless bounces are off.
    pub fn bounce(&self) -> Option<Bounce<'static>> {
        self.bounce.then_some(Bounce {
            body: &self.words.bounce_sms,
        })
    }
}

/// Whether `text` has nothing to relay: no words and no picture (a picture that cannot go
/// on is still worth a line saying so).
pub(super) fn is_empty(text: &Text) -> bool {
    text.body.trim().is_empty() && text.media.is_empty()
}

/// The relay of `text` (its words as `body`: a client's `#N` goes without it) from `sender`
/// through `proxy` to `to`.
pub(super) fn outbound(
    routing: &Routing,
    text: &Text,
    body: &str,
    sender: &E164,
    proxy: &E164,
    to: &E164,
) -> NewOutbound {
    let pictures = routing.relay.pictures && takes_pictures(to);
    let media = if pictures {
        text.media.urls.clone()
    } else {
        Vec::new()
    };
    // Pictures left behind: refused addresses anywhere, all of them where MMS do not go.
    let left_behind = text.media.refused > 0 || (!pictures && !text.media.urls.is_empty());
    let body = if left_behind {
        let line = &routing.relay.words.picture_not_forwarded;
        if body.trim().is_empty() {
            line.clone()
        } else {
            format!("{body}\n{line}")
        }
    } else {
        body.to_owned()
    };
    NewOutbound {
        kind: OutboundKind::Sms,
        purpose: "relay",
        from: proxy.clone(),
        to: to.clone(),
        body: Some(body),
        url: None,
        // A retried webhook carries the same MessageSid: it relays once.
        dedupe_key: text.sid.as_ref().map(|s| format!("relay:{s}")),
        relay: Some(Relay {
            sender: sender.clone(),
            media,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Media, MediaOrigin, MediaUrl};

    const PICTURE: &str = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1";

    fn e164(n: &str) -> E164 {
        E164::parse(n).unwrap()
    }

    fn text(body: &str, urls: usize, refused: usize) -> Text {
        let url = MediaUrl::parse(PICTURE, &MediaOrigin::twilio()).unwrap();
        Text {
            from: Some(e164("+33612345678")),
            to: Some(e164("+33780000001")),
            body: body.into(),
            sid: Some("MM1".into()),
            media: Media {
                urls: vec![url; urls],
                refused,
            },
        }
    }

    fn relay(t: &Text, to: &str) -> NewOutbound {
        relay_with(&Routing::default(), t, to)
    }

    fn relay_with(routing: &Routing, t: &Text, to: &str) -> NewOutbound {
        outbound(
            routing,
            t,
            &t.body,
            &e164("+33612345678"),
            &e164("+33780000001"),
            &e164(to),
        )
    }

    #[test]
    fn pictures_go_where_mms_go_and_a_line_says_so_elsewhere() {
        let line = &Routing::default().relay.words.picture_not_forwarded;
        let us = relay(&text("Voici la porte", 2, 0), "+12025550123");
        let r = us.relay.as_ref().unwrap();
        assert_eq!(r.media.len(), 2);
        assert_eq!(r.sender, e164("+33612345678"), "the sender, for a bounce");
        assert_eq!(us.body.as_deref(), Some("Voici la porte"));

        let fr = relay(&text("Voici la porte", 1, 0), "+33698765432");
        assert!(fr.relay.as_ref().unwrap().media.is_empty());
        assert_eq!(
            fr.body.as_deref(),
            Some(format!("Voici la porte\n{line}").as_str())
        );

        // A picture alone, where it cannot go: the line alone.
        let alone = relay(&text("", 1, 0), "+33698765432");
        assert_eq!(alone.body.as_deref(), Some(line.as_str()));
        assert!(!is_empty(&text("", 1, 0)));
        assert!(is_empty(&text(" ", 0, 0)));

        // A refused address is never relayed, even where MMS go.
        let refused = relay(&text("Voici", 1, 1), "+12025550123");
        assert_eq!(refused.relay.as_ref().unwrap().media.len(), 1);
        assert!(refused.body.as_deref().unwrap().ends_with(line.as_str()));

        // Pictures turned off: the line, even where MMS go.
        let mut off = Routing::default();
        off.relay.pictures = false;
        let kept = relay_with(&off, &text("Voici", 1, 0), "+12025550123");
        assert!(kept.relay.as_ref().unwrap().media.is_empty());
        assert_eq!(
            kept.body.as_deref(),
            Some(format!("Voici\n{line}").as_str())
        );

        let plain = relay(&text("Bonjour", 0, 0), "+33698765432");
        assert_eq!(plain.body.as_deref(), Some("Bonjour"));
        assert_eq!(plain.dedupe_key.as_deref(), Some("relay:MM1"));
    }
}

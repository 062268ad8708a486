//! The unmasking guard (issue 12): a relayed text that holds a phone number, an e-mail address
//! or a link would undo the masking, so it is relayed as it is, redacted, or not at all
//! (`PROXYCALL_UNMASK_POLICY`), and its sender is told why, once a day per proxy. Pure
//! functions over the body, and over the decision `decide.rs` made: no I/O.

use std::ops::Range;
use std::sync::LazyLock;

use chrono::Utc;
use regex::Regex;

use super::Text;
use super::decide::{Decision, Facts};
use crate::messages::{Catalogue, GuardWords, Language};
use crate::store::{NewOutbound, OutboundKind, Outcome};

/// What a relayed text that could unmask someone becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmaskPolicy {
    /// Relayed as written (still counted).
    Allow,
    /// Relayed with each number, address or link replaced by a short marker.
    Redact,
    /// Not relayed.
    Block,
}

impl UnmaskPolicy {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "allow" => Ok(Self::Allow),
            "redact" => Ok(Self::Redact),
            "block" => Ok(Self::Block),
            _ => Err(format!("'{raw}' is not allow, redact or block")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Redact => "redact",
            Self::Block => "block",
        }
    }
}

/// What the guard and the opt-out keywords run with (`app::Routing::guard`).
#[derive(Debug, Clone)]
pub struct GuardSettings {
    pub unmask: UnmaskPolicy,
    pub opt_out: super::keywords::OptOutRules,
    /// The markers and the texts sent, in the deployment's language.
    pub words: &'static GuardWords,
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self::new(
            UnmaskPolicy::Redact,
            super::keywords::OptOutRules::default(),
            Language::Fr,
        )
    }
}

impl GuardSettings {
    pub fn new(
        unmask: UnmaskPolicy,
        opt_out: super::keywords::OptOutRules,
        language: Language,
    ) -> Self {
        Self {
            unmask,
            opt_out,
            words: &Catalogue::get(language).guard,
        }
    }
}

/// What a part of a text would reveal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Phone,
    Email,
    Link,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Email => "email",
            Self::Link => "link",
        }
    }

    fn marker(self, words: &GuardWords) -> &str {
        match self {
            Self::Phone => &words.hidden_phone,
            Self::Email => &words.hidden_email,
            Self::Link => &words.hidden_link,
        }
    }
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}").expect("valid")
});

/// A scheme or `www.`, or a bare domain under a common top-level domain (a bare word followed
/// by a dot is too often a typo — `ok.merci` — to be taken for a domain: the list is what
/// keeps it out).
static LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)\b(?:https?://|www\.)[^\s<>]+",
        r"|\b[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*",
        r"\.(?:com|net|org|info|biz|fr|be|ch|de|es|it|pt|nl|eu|uk|ie|lu|at|pl|ca|us|io|co|me",
        r"|app|dev|ly|gl|gg|to|tv|xyz|site|online|shop|link|page)\b(?:/[^\s<>]*)?",
    ))
    .expect("valid")
});

/// Phone numbers as people write them. International: `+` or `00`, a country code, then at
/// least seven more digits, single spaces, dots or dashes between them (`+33 6 12 34 56 78`,
/// `+33 (0)6…`, `0033612345678`). National: a trunk `0` and nine digits, grouped in pairs or
/// not (`06 12 34 56 78`, `06.12.34.56.78`), or North America's `(202) 555-0123` and
/// `202-555-0123`. An order number (`CMD-4589123`), a price (`12,50 €`), a time (`12:30`,
/// `12h30`) or a date has none of these shapes.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?:\+|\b00)[1-9]\d{0,2}(?:[ .\-]?\(0\))?(?:[ .\-]?\d){7,12}\b",
        r"|\b0[1-9](?:[ .\-]?\d{2}){4}\b",
        r"|\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}\b",
        r"|\b\d{3}[.\-]\d{3}[.\-]\d{4}\b",
    ))
    .expect("valid")
});

/// The parts of `body` that would reveal a number, an address or a link, in order and not
/// overlapping. An e-mail address is found before the domain in it, a link before the digits
/// in it.
pub fn find(body: &str) -> Vec<(Range<usize>, Kind)> {
    let mut found: Vec<(Range<usize>, Kind)> = Vec::new();
    for (regex, kind) in [
        (&*EMAIL, Kind::Email),
        (&*LINK, Kind::Link),
        (&*PHONE, Kind::Phone),
    ] {
        for m in regex.find_iter(body) {
            let r = m.range();
            if found
                .iter()
                .all(|(f, _)| r.end <= f.start || f.end <= r.start)
            {
                found.push((r, kind));
            }
        }
    }
    found.sort_by_key(|(r, _)| r.start);
    found
}

/// `body` with each part found replaced by its kind's marker.
pub fn redact(body: &str, found: &[(Range<usize>, Kind)], words: &GuardWords) -> String {
    let mut out = String::with_capacity(body.len());
    let mut at = 0;
    for (r, kind) in found {
        out.push_str(&body[at..r.start]);
        out.push_str(kind.marker(words));
        at = r.end;
    }
    out.push_str(&body[at..]);
    out
}

/// The kinds found, each once: the metric's labels.
fn kinds(found: &[(Range<usize>, Kind)]) -> Vec<&'static str> {
    let mut kinds: Vec<Kind> = found.iter().map(|(_, k)| *k).collect();
    kinds.sort();
    kinds.dedup();
    kinds.into_iter().map(Kind::as_str).collect()
}

/// Screens the relay `decision` holds, if any, under the policy: the body relayed is the
/// screened one; under `block` nothing is relayed, the outcome says why and the sender is not
/// remembered (nothing of theirs reached anyone). Either way but `allow`, the sender gets one
/// text saying why, at most once a day per (sender, proxy): its dedupe key names the day, and
/// the outbox writes a key once.
pub(super) fn screen(facts: &Facts, text: &Text, mut decision: Decision) -> Decision {
    let guard = &facts.routing.guard;
    let (Some(record), Some(sender)) = (&mut decision.record, &text.from) else {
        return decision;
    };
    let Some(relay) = record.outbound.as_mut().filter(|m| m.purpose == "relay") else {
        return decision;
    };
    let Some(body) = relay.body.as_deref() else {
        return decision;
    };
    let found = find(body);
    if found.is_empty() {
        return decision;
    }
    record.guard.unmasked = kinds(&found);
    let proxy = relay.from.clone();
    let why = match guard.unmask {
        UnmaskPolicy::Allow => return decision,
        UnmaskPolicy::Redact => {
            relay.body = Some(redact(body, &found, guard.words));
            &guard.words.unmask_redacted_sms
        }
        UnmaskPolicy::Block => {
            record.outbound = None;
            record.new_last_caller = None;
            record.interaction.outcome = Outcome::UnmaskBlocked;
            &guard.words.unmask_blocked_sms
        }
    };
    let day = Utc::now()
        .with_timezone(&facts.routing.timezone)
        .date_naive();
    record.guard.notice = Some(NewOutbound {
        kind: OutboundKind::Sms,
        purpose: "unmask_notice",
        from: proxy.clone(),
        to: sender.clone(),
        body: Some(why.clone()),
        url: None,
        dedupe_key: Some(format!("unmask:{proxy}:{sender}:{day}")),
        relay: None,
    });
    decision
}

/// Counts a recorded (new) webhook's findings: `proxycall_unmask_total{policy,kind}`.
pub(super) fn count(policy: UnmaskPolicy, unmasked: &[&'static str]) {
    for kind in unmasked {
        metrics::counter!("proxycall_unmask_total", "policy" => policy.as_str(), "kind" => *kind)
            .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_in(body: &str) -> Vec<Kind> {
        find(body).into_iter().map(|(_, k)| k).collect()
    }

    #[test]
    fn phone_numbers_in_their_usual_written_forms() {
        for body in [
            "06 12 34 56 78",
            "0612345678",
            "06.12.34.56.78",
            "06-12-34-56-78",
            "+33 6 12 34 56 78",
            "+33612345678",
            "+33 (0)6 12 34 56 78",
            "0033 6 12 34 56 78",
            "0033612345678",
            "+351 912 345 678",
            "+1 202 555 0123",
            "(202) 555-0123",
            "202-555-0123",
            "appelle moi au 07 12 34 56 78 stp",
            "mon num: +33698765432.",
        ] {
            assert_eq!(kinds_in(body), vec![Kind::Phone], "{body:?}");
        }
    }

    #[test]
    fn order_numbers_prices_times_and_dates_are_not_phone_numbers() {
        for body in [
            "Commande 4589123 livrée",
            "CMD-2024-0012",
            "commande n°123456789",
            "Total 12,50 € ou 1 250,00 €",
            "Prix : 1234.56",
            "J'arrive à 12:30",
            "Vers 12h30 ou 18h",
            "Le 12/03/2024",
            "2024-03-12",
            "code porte 4589B, étage 3",
            "Dans 5 min",
            "J'arrive.Ok",
            "ok.merci",
        ] {
            assert_eq!(kinds_in(body), Vec::<Kind>::new(), "{body:?}");
        }
    }

    #[test]
    fn e_mail_addresses_and_links() {
        assert_eq!(
            kinds_in("écris à jeanne.martin@example.com"),
            vec![Kind::Email]
        );
        assert_eq!(
            kinds_in("JEANNE+colis@mail.example.fr merci"),
            vec![Kind::Email]
        );
        for body in [
            "https://example.com/suivi?id=12",
            "voir http://exemple.fr",
            "www.example.org",
            "example.com/x",
            "va sur monsite.fr",
            "https://wa.me/33612345678",
        ] {
            assert_eq!(kinds_in(body), vec![Kind::Link], "{body:?}");
        }
    }

    #[test]
    fn several_kinds_are_each_found_and_redacted() {
        let words = &Catalogue::get(Language::En).guard;
        let body = "Call 06 12 34 56 78 or mail a@b.com, see www.x.com";
        let found = find(body);
        assert_eq!(
            found.iter().map(|(_, k)| *k).collect::<Vec<_>>(),
            vec![Kind::Phone, Kind::Email, Kind::Link]
        );
        assert_eq!(kinds(&found), vec!["phone", "email", "link"]);
        let redacted = redact(body, &found, words);
        assert_eq!(
            redacted,
            format!(
                "Call {} or mail {}, see {}",
                words.hidden_phone, words.hidden_email, words.hidden_link
            )
        );
        assert!(!redacted.contains("06"));
    }

    #[test]
    fn policies_parse() {
        assert_eq!(UnmaskPolicy::parse("Block"), Ok(UnmaskPolicy::Block));
        assert_eq!(UnmaskPolicy::parse("redact"), Ok(UnmaskPolicy::Redact));
        assert_eq!(UnmaskPolicy::parse("allow"), Ok(UnmaskPolicy::Allow));
        assert!(UnmaskPolicy::parse("maybe").is_err());
    }
}

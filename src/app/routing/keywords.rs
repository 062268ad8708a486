//! Opt-out keywords (issue 12), where the law asks for them: the proxy's country
//! (`PROXYCALL_OPT_OUT_COUNTRIES`, US and Canada by default, whose carriers require them).
//! There, a text that is exactly a stop word (`STOP`, `ARRET`…) is not relayed: its sender
//! opts out of the texts of that proxy, and gets none from it — relay, reply or notice — until
//! they text a start word (`START`, `UNSTOP`); a help word gets a short answer. Pure functions:
//! the engine reads the opt-outs of the batch's proxies and writes the changes.

use std::collections::HashSet;

use super::decide::{Decision, Facts};
use super::{Answer, Text, TextAnswer};
use crate::domain::{CountryIso, E164};
use crate::store::{
    Channel, Direction, NewInteraction, OptOutChange, Outcome, RoutingJob, RoutingJobGuard,
};

/// Where opt-out keywords apply, and which words they are (upper case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutRules {
    /// The proxies' countries where they apply; none: nowhere.
    pub countries: Vec<CountryIso>,
    pub stop: Vec<String>,
    pub start: Vec<String>,
    pub help: Vec<String>,
}

pub const DEFAULT_COUNTRIES: &str = "US,CA";
pub const DEFAULT_STOP: &str = "STOP,STOPALL,UNSUBSCRIBE,CANCEL,END,QUIT,ARRET,ARRÊT";
pub const DEFAULT_START: &str = "START,UNSTOP";
pub const DEFAULT_HELP: &str = "HELP,INFO,AIDE";

impl Default for OptOutRules {
    fn default() -> Self {
        Self {
            countries: countries(DEFAULT_COUNTRIES).expect("valid default"),
            stop: words(DEFAULT_STOP).expect("valid default"),
            start: words(DEFAULT_START).expect("valid default"),
            help: words(DEFAULT_HELP).expect("valid default"),
        }
    }
}

/// `US,CA`; `none` for nowhere.
pub fn countries(raw: &str) -> Result<Vec<CountryIso>, String> {
    if raw.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    raw.split(',')
        .map(|c| CountryIso::parse(c).map_err(|e| format!("'{}' {e}", c.trim())))
        .collect()
}

/// A comma-separated list of single words, kept in upper case.
pub fn words(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(|w| {
            let w = w.trim();
            if w.is_empty() || w.chars().count() > 20 || !w.chars().all(char::is_alphanumeric) {
                Err(format!(
                    "'{w}' is not one word (letters and digits, 20 at most)"
                ))
            } else {
                Ok(w.to_uppercase())
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
    Help,
}

impl OptOutRules {
    /// Whether texts to `proxy` follow these rules.
    pub fn applies(&self, proxy: &E164) -> bool {
        !self.countries.is_empty() && proxy.region().is_some_and(|r| self.countries.contains(&r))
    }

    /// The keyword `body` is, exactly (case and surrounding spaces aside).
    pub fn keyword(&self, body: &str) -> Option<Keyword> {
        let word = body.trim().to_uppercase();
        let is = |list: &[String]| list.contains(&word);
        if is(&self.stop) {
            Some(Keyword::Stop)
        } else if is(&self.start) {
            Some(Keyword::Start)
        } else if is(&self.help) {
            Some(Keyword::Help)
        } else {
            None
        }
    }

    /// A word in two lists would be ambiguous.
    pub fn overlap(&self) -> Option<&str> {
        let mut seen = HashSet::new();
        self.stop
            .iter()
            .chain(&self.start)
            .chain(&self.help)
            .find(|w| !seen.insert(w.as_str()))
            .map(String::as_str)
    }
}

/// The pairs (proxy, number) where `number` opted out of `proxy`'s texts.
pub(super) type OptedOut = HashSet<(E164, E164)>;

/// A keyword text, decided: not relayed, recorded, answered. `None` for any other text, a
/// proxy where the rules do not apply, a sender refused before anything is said to it (one of
/// ours, a service number: `decide.rs` handles them), and a start word from someone who had
/// not opted out (an ordinary text).
pub(super) fn answer(facts: &Facts, text: &Text) -> Option<Decision> {
    let (Some(from), Some(proxy)) = (&text.from, &text.to) else {
        return None;
    };
    let rules = &facts.routing.guard.opt_out;
    let keyword = rules.keyword(&text.body)?;
    if facts.ours.contains(from) || !from.is_personal() || !rules.applies(proxy) {
        return None;
    }
    let pair = (proxy.clone(), from.clone());
    let opted_out = facts.opted_out.contains(&pair);
    let (answer, outcome, change) = match keyword {
        Keyword::Stop => (TextAnswer::OptedOut, Outcome::OptedOut, Some(true)),
        Keyword::Start if opted_out => (TextAnswer::OptedIn, Outcome::OptedIn, Some(false)),
        Keyword::Start => return None,
        Keyword::Help => (TextAnswer::Help, Outcome::HelpAnswered, None),
    };
    let client = facts.clients.get(proxy);
    let direction = match client {
        Some(c) if c.real_phone == *from => Direction::FromClient,
        Some(_) => Direction::ToClient,
        None => Direction::Unknown,
    };
    Some(Decision {
        answer: Answer::Text(answer),
        record: Some(RoutingJob {
            interaction: NewInteraction {
                occurred_at: chrono::Utc::now(),
                proxy: proxy.clone(),
                client_id: client.map(|c| c.id),
                direction,
                channel: Channel::Sms,
                outcome,
                twilio_sid: text.sid.clone(),
            },
            new_last_caller: None,
            block: None,
            hold_until: None,
            outbound: None,
            later_jobs_depend: false,
            guard: RoutingJobGuard {
                opt_out: change.map(|out| OptOutChange {
                    proxy: proxy.clone(),
                    number: from.clone(),
                    out,
                }),
                ..RoutingJobGuard::default()
            },
        }),
    })
}

/// Holds back what `decision` would send from a proxy to someone who opted out of its texts:
/// the reply to the sender, the sender's notice, the relay (then the outcome says so, and the
/// sender is not told of a redaction that reached no one).
pub(super) fn enforce(facts: &Facts, text: &Text, mut decision: Decision) -> Decision {
    if facts.opted_out.is_empty() {
        return decision;
    }
    let out = |from: &E164, to: &E164| facts.opted_out.contains(&(from.clone(), to.clone()));
    if let (Some(from), Some(proxy)) = (&text.from, &text.to)
        && out(proxy, from)
    {
        decision.answer = Answer::Text(TextAnswer::Nothing);
    }
    if let Some(record) = &mut decision.record {
        if record
            .guard
            .notice
            .as_ref()
            .is_some_and(|m| out(&m.from, &m.to))
        {
            record.guard.notice = None;
        }
        if record
            .outbound
            .as_ref()
            .is_some_and(|m| out(&m.from, &m.to))
        {
            record.outbound = None;
            // Nothing was relayed: there is nothing redacted to explain.
            record.guard.notice = None;
            record.interaction.outcome = Outcome::RecipientOptedOut;
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e164(n: &str) -> E164 {
        E164::parse_shape(n).unwrap()
    }

    #[test]
    fn keywords_are_matched_exactly_case_and_spaces_aside() {
        let rules = OptOutRules::default();
        for (body, kw) in [
            ("STOP", Some(Keyword::Stop)),
            ("  stop \n", Some(Keyword::Stop)),
            ("Arrêt", Some(Keyword::Stop)),
            ("arret", Some(Keyword::Stop)),
            ("unsubscribe", Some(Keyword::Stop)),
            ("Start", Some(Keyword::Start)),
            ("UNSTOP", Some(Keyword::Start)),
            ("help", Some(Keyword::Help)),
            ("Aide", Some(Keyword::Help)),
            ("STOP please", None),
            ("stop.", None),
            ("Don't stop", None),
            ("", None),
        ] {
            assert_eq!(rules.keyword(body), kw, "{body:?}");
        }
    }

    #[test]
    fn the_rules_apply_to_the_proxys_country() {
        let rules = OptOutRules::default();
        assert!(rules.applies(&e164("+12025550123")), "US");
        assert!(rules.applies(&e164("+14165550123")), "CA");
        assert!(!rules.applies(&e164("+33780000001")), "FR");
        let none = OptOutRules {
            countries: countries("none").unwrap(),
            ..OptOutRules::default()
        };
        assert!(!none.applies(&e164("+12025550123")));
        let fr = OptOutRules {
            countries: countries("fr").unwrap(),
            ..OptOutRules::default()
        };
        assert!(fr.applies(&e164("+33780000001")));
    }

    #[test]
    fn lists_are_checked() {
        assert!(countries("US,XX").is_err());
        assert!(words("STOP,,END").is_err());
        assert!(words("STOP NOW").is_err());
        assert_eq!(words("stop, fin").unwrap(), vec!["STOP", "FIN"]);
        let rules = OptOutRules {
            help: words("HELP,STOP").unwrap(),
            ..OptOutRules::default()
        };
        assert_eq!(rules.overlap(), Some("STOP"));
        assert_eq!(OptOutRules::default().overlap(), None);
    }

    /// Decisions through `decide_text`: a US proxy (opt-outs apply) of one client whose last
    /// caller is the courier, under `policy`, with these opt-outs.
    mod decisions {
        use std::collections::{HashMap, HashSet};

        use super::super::super::decide::{Decision, Facts, decide_text};
        use super::*;
        use crate::app::Routing;
        use crate::app::routing::{UnmaskPolicy, guard::GuardSettings};
        use crate::domain::{ClientId, ClientName, Email};
        use crate::messages::Language;
        use crate::store::Client;

        const PROXY: &str = "+12025550100";
        const CLIENT: &str = "+33612345678";
        const COURIER: &str = "+12025550199";

        fn decide(
            policy: UnmaskPolicy,
            opted_out: &[(&str, &str)],
            from: &str,
            body: &str,
        ) -> Decision {
            let routing = Routing {
                allow_list: crate::domain::AllowList::parse("+1,+33").unwrap(),
                guard: GuardSettings::new(policy, OptOutRules::default(), Language::En),
                ..Routing::default()
            };
            let client = Client {
                id: ClientId::new(7).unwrap(),
                name: ClientName::parse("Jeanne").unwrap(),
                mail: Email::parse("jeanne@example.com").unwrap(),
                real_phone: e164(CLIENT),
                proxy: Some(e164(PROXY)),
                iso_residency: None,
                country_code: Some("+33".into()),
                last_caller: Some(e164(COURIER)),
                created_at: chrono::Utc::now(),
                updated_at: chrono::Utc::now(),
            };
            let clients = HashMap::from([(e164(PROXY), client)]);
            let ours = HashSet::from([e164(PROXY)]);
            let opted_out: OptedOut = opted_out.iter().map(|(p, n)| (e164(p), e164(n))).collect();
            // The courier is the client's one recent contact.
            let contacts = HashMap::from([(
                ClientId::new(7).unwrap(),
                vec![crate::store::Contact {
                    client_id: ClientId::new(7).unwrap(),
                    number: e164(COURIER),
                    last_at: chrono::Utc::now(),
                    last_channel: None,
                    order_id: None,
                    blocked_at: None,
                }],
            )]);
            let facts = Facts {
                routing: &routing,
                clients: &clients,
                ours: &ours,
                opted_out: &opted_out,
                contacts: &contacts,
                latest_orders: &HashMap::new(),
                since: chrono::Utc::now() - chrono::Duration::days(7),
            };
            let text = Text {
                from: Some(e164(from)),
                to: Some(e164(PROXY)),
                body: body.into(),
                sid: Some("SM1".into()),
                media: Default::default(),
            };
            decide_text(&facts, &text, &mut |_, _| true)
        }

        fn outcome(d: &Decision) -> Outcome {
            d.record.as_ref().unwrap().interaction.outcome
        }

        #[test]
        fn stop_start_and_help() {
            let d = decide(UnmaskPolicy::Redact, &[], COURIER, "stop");
            assert_eq!(d.answer, Answer::Text(TextAnswer::OptedOut));
            let r = d.record.as_ref().unwrap();
            assert_eq!(r.interaction.outcome, Outcome::OptedOut);
            assert!(
                r.outbound.is_none() && r.new_last_caller.is_none(),
                "not relayed"
            );
            assert_eq!(
                r.guard.opt_out,
                Some(OptOutChange {
                    proxy: e164(PROXY),
                    number: e164(COURIER),
                    out: true
                })
            );
            let d = decide(UnmaskPolicy::Redact, &[(PROXY, COURIER)], COURIER, "START");
            assert_eq!(d.answer, Answer::Text(TextAnswer::OptedIn));
            assert_eq!(d.record.unwrap().guard.opt_out.map(|c| c.out), Some(false));
            // Not opted out: an ordinary text, relayed.
            let d = decide(UnmaskPolicy::Redact, &[], COURIER, "START");
            assert_eq!(outcome(&d), Outcome::Forwarded);
            let d = decide(UnmaskPolicy::Redact, &[], COURIER, "Help");
            assert_eq!(d.answer, Answer::Text(TextAnswer::Help));
            assert_eq!(outcome(&d), Outcome::HelpAnswered);
            assert!(d.record.unwrap().guard.opt_out.is_none());
        }

        #[test]
        fn nothing_goes_to_who_opted_out() {
            let d = decide(
                UnmaskPolicy::Redact,
                &[(PROXY, COURIER)],
                CLIENT,
                "06 11 22 33 44",
            );
            let r = d.record.unwrap();
            assert_eq!(r.interaction.outcome, Outcome::RecipientOptedOut);
            assert!(r.outbound.is_none() && r.guard.notice.is_none());
            // The client opted out: the courier's texts are not relayed to them.
            let d = decide(
                UnmaskPolicy::Redact,
                &[(PROXY, CLIENT)],
                COURIER,
                "Downstairs",
            );
            let r = d.record.unwrap();
            assert_eq!(r.interaction.outcome, Outcome::RecipientOptedOut);
            assert!(r.outbound.is_none());
        }

        #[test]
        fn the_guard_screens_the_relay_under_each_policy() {
            let body = "Call me: 06 11 22 33 44";
            let d = decide(UnmaskPolicy::Allow, &[], COURIER, body);
            let r = d.record.unwrap();
            assert_eq!(r.outbound.unwrap().body.as_deref(), Some(body));
            assert!(r.guard.notice.is_none());
            assert_eq!(r.guard.unmasked, vec!["phone"]);

            let d = decide(UnmaskPolicy::Redact, &[], COURIER, body);
            let r = d.record.unwrap();
            assert_eq!(r.interaction.outcome, Outcome::Forwarded);
            assert_eq!(
                r.outbound.unwrap().body.as_deref(),
                Some("Call me: [number hidden]")
            );
            let notice = r.guard.notice.unwrap();
            assert_eq!((notice.from.as_str(), notice.to.as_str()), (PROXY, COURIER));
            let key = notice.dedupe_key.unwrap();
            assert!(
                key.starts_with(&format!("unmask:{PROXY}:{COURIER}:")),
                "{key}"
            );

            let d = decide(UnmaskPolicy::Block, &[], COURIER, body);
            assert_eq!(d.answer, Answer::Text(TextAnswer::Nothing));
            let r = d.record.unwrap();
            assert_eq!(r.interaction.outcome, Outcome::UnmaskBlocked);
            assert!(r.outbound.is_none() && r.new_last_caller.is_none());
            let notice = r.guard.notice.unwrap();
            assert!(!notice.body.unwrap().contains("11 22"), "nothing leaked");

            // Nothing found: nothing changes.
            let d = decide(UnmaskPolicy::Block, &[], COURIER, "Downstairs at 12:30");
            let r = d.record.unwrap();
            assert_eq!(r.interaction.outcome, Outcome::Forwarded);
            assert!(r.guard.notice.is_none() && r.guard.unmasked.is_empty());
        }
    }
}

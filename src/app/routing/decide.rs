//! The routing rules (SPEC §5 and the hardening of issue 7), as pure functions of the webhook
//! and what the batch read: what to answer and what to record. No I/O: the engine
//! (`engine.rs`) reads and writes, and asks the relay limits (`may_relay`).

use std::collections::{HashMap, HashSet};

use chrono::Utc;

use super::{Answer, Call, CallAnswer, Text, TextAnswer};
use crate::app::Routing;
use crate::domain::E164;
use crate::store::{
    Channel, Client, Direction, NewInteraction, NewOutbound, OutboundKind, Outcome, RoutingJob,
};

/// What one webhook decided: its answer, and what to record (nothing for bad input).
pub(super) struct Decision {
    pub answer: Answer,
    pub record: Option<RoutingJob>,
}

/// What a decision knows besides the webhook.
pub(super) struct Facts<'a> {
    pub routing: &'a Routing,
    /// The clients of the batch's proxies, by proxy.
    pub clients: &'a HashMap<E164, Client>,
    /// The batch's senders, and its clients' last callers, that are numbers of ours.
    pub ours: &'a HashSet<E164>,
}

/// Whether one more relay from a sender (first) through a proxy (second) is within the
/// limits. Asked only of what would be relayed, last, once every other rule has let it
/// through.
pub(super) type MayRelay<'a> = dyn FnMut(&E164, &E164) -> bool + 'a;

fn interaction(
    channel: Channel,
    proxy: &E164,
    client: Option<&Client>,
    direction: Direction,
    outcome: Outcome,
    sid: Option<&String>,
) -> NewInteraction {
    NewInteraction {
        occurred_at: Utc::now(),
        proxy: proxy.clone(),
        client_id: client.map(|c| c.id),
        direction,
        channel,
        outcome,
        twilio_sid: sid.cloned(),
    }
}

fn only(interaction: NewInteraction) -> Option<RoutingJob> {
    Some(RoutingJob {
        interaction,
        new_last_caller: None,
        outbound: None,
        later_jobs_depend: false,
        hold_until: None,
    })
}

/// Why a client's last contact may not be reached, if so: one of our own numbers (a proxy
/// dialling or texting a proxy could loop), or a service number (premium rate…). Either was
/// remembered before these rules, imported, or is a pool number assigned since.
fn unreachable_contact(facts: &Facts, last: &E164) -> Option<Outcome> {
    if facts.ours.contains(last) {
        Some(Outcome::OwnNumber)
    } else if !last.is_personal() {
        Some(Outcome::BlockedNumberType)
    } else {
        None
    }
}

pub(super) fn decide_call(facts: &Facts, call: &Call, may_relay: &mut MayRelay) -> Decision {
    let Some(proxy) = &call.to else {
        return Decision {
            answer: Answer::Call(CallAnswer::UnknownNumber),
            record: None,
        };
    };
    let client = facts.clients.get(proxy);
    // An answer, with the interaction it records.
    let say = |answer, client, direction, outcome| Decision {
        answer: Answer::Call(answer),
        record: only(interaction(
            Channel::Voice,
            proxy,
            client,
            direction,
            outcome,
            call.sid.as_ref(),
        )),
    };
    // One of our numbers calling: a proxy dialling a proxy. Connected, it could loop.
    if let Some(from) = &call.from
        && facts.ours.contains(from)
    {
        return say(
            CallAnswer::Unavailable,
            client,
            Direction::Unknown,
            Outcome::OwnNumber,
        );
    }
    let Some(client) = client else {
        return say(
            CallAnswer::UnknownNumber,
            None,
            Direction::Unknown,
            Outcome::UnknownProxy,
        );
    };
    // An anonymous or garbled caller has no country to check: refused as one from
    // elsewhere, and not recorded (there is nothing to record it as).
    let Some(from) = &call.from else {
        return Decision {
            answer: Answer::Call(CallAnswer::CountryBlocked),
            record: None,
        };
    };
    if !facts.routing.allow_list.allows(from) {
        return say(
            CallAnswer::CountryBlocked,
            Some(client),
            Direction::Unknown,
            Outcome::BlockedCountry,
        );
    }
    if *from == client.real_phone {
        let Some(last) = &client.last_caller else {
            return say(
                CallAnswer::NoRecentCaller,
                Some(client),
                Direction::FromClient,
                Outcome::NoRecentCaller,
            );
        };
        if let Some(outcome) = unreachable_contact(facts, last) {
            return say(
                CallAnswer::NoRecentCaller,
                Some(client),
                Direction::FromClient,
                outcome,
            );
        }
        if !may_relay(from, proxy) {
            return say(
                CallAnswer::Unavailable,
                Some(client),
                Direction::FromClient,
                Outcome::RateLimited,
            );
        }
        return Decision {
            answer: Answer::Call(CallAnswer::Connect {
                proxy: proxy.clone(),
                number: last.clone(),
                to_client: None,
            }),
            record: only(interaction(
                Channel::Voice,
                proxy,
                Some(client),
                Direction::FromClient,
                Outcome::Forwarded,
                call.sid.as_ref(),
            )),
        };
    }
    // Anyone else becomes the number the client calls back: a service number never does (and
    // a client's phone that is one, from before the API refused them, is never dialled).
    // Classified here only, where it matters: the webhook path pays for it once.
    if !from.is_personal() || !client.real_phone.is_personal() {
        return say(
            CallAnswer::Unavailable,
            Some(client),
            Direction::ToClient,
            Outcome::BlockedNumberType,
        );
    }
    if !may_relay(from, proxy) {
        return say(
            CallAnswer::Unavailable,
            Some(client),
            Direction::ToClient,
            Outcome::RateLimited,
        );
    }
    Decision {
        answer: Answer::Call(CallAnswer::Connect {
            proxy: proxy.clone(),
            number: client.real_phone.clone(),
            to_client: Some(client.id),
        }),
        record: Some(RoutingJob {
            interaction: interaction(
                Channel::Voice,
                proxy,
                Some(client),
                Direction::ToClient,
                Outcome::Forwarded,
                call.sid.as_ref(),
            ),
            new_last_caller: Some((client.id, from.clone())),
            outbound: None,
            later_jobs_depend: false,
            hold_until: None,
        }),
    }
}

pub(super) fn decide_text(facts: &Facts, text: &Text, may_relay: &mut MayRelay) -> Decision {
    let (Some(from), Some(proxy)) = (&text.from, &text.to) else {
        return Decision {
            answer: Answer::Text(TextAnswer::Nothing),
            record: None,
        };
    };
    let client = facts.clients.get(proxy);
    let record = |client, direction, outcome| {
        interaction(
            Channel::Sms,
            proxy,
            client,
            direction,
            outcome,
            text.sid.as_ref(),
        )
    };
    let reply = |answer, client, direction, outcome| Decision {
        answer: Answer::Text(answer),
        record: only(record(client, direction, outcome)),
    };
    // Checked before anything that replies: a reply is a text to `from`. To one of our own
    // numbers it would come back as a webhook (a loop between proxies); to a premium-rate
    // number it would cost.
    if facts.ours.contains(from) {
        return reply(
            TextAnswer::Nothing,
            client,
            Direction::Unknown,
            Outcome::OwnNumber,
        );
    }
    if !from.is_personal() {
        return reply(
            TextAnswer::Nothing,
            client,
            Direction::Unknown,
            Outcome::BlockedNumberType,
        );
    }
    let Some(client) = client else {
        return reply(
            TextAnswer::UnknownProxy,
            None,
            Direction::Unknown,
            Outcome::UnknownProxy,
        );
    };
    if !facts.routing.allow_list.allows(from) {
        return reply(
            TextAnswer::CountryBlocked,
            Some(client),
            Direction::Unknown,
            Outcome::BlockedCountry,
        );
    }
    let relay = |to: &E164| NewOutbound {
        kind: OutboundKind::Sms,
        purpose: "relay",
        from: proxy.clone(),
        to: to.clone(),
        body: Some(text.body.clone()),
        url: None,
        // A retried webhook carries the same MessageSid: it relays once.
        dedupe_key: text.sid.as_ref().map(|s| format!("relay:{s}")),
    };
    let empty = text.body.trim().is_empty();
    let outcome = if empty {
        Outcome::EmptyMessage
    } else {
        Outcome::Forwarded
    };
    if *from == client.real_phone {
        let Some(last) = &client.last_caller else {
            return reply(
                TextAnswer::NoRecentCorrespondent,
                Some(client),
                Direction::FromClient,
                Outcome::NoRecentCaller,
            );
        };
        if let Some(outcome) = unreachable_contact(facts, last) {
            return reply(
                TextAnswer::NoRecentCorrespondent,
                Some(client),
                Direction::FromClient,
                outcome,
            );
        }
        if !empty && !may_relay(from, proxy) {
            return reply(
                TextAnswer::Nothing,
                Some(client),
                Direction::FromClient,
                Outcome::RateLimited,
            );
        }
        return Decision {
            answer: Answer::Text(TextAnswer::Nothing),
            record: Some(RoutingJob {
                interaction: record(Some(client), Direction::FromClient, outcome),
                new_last_caller: None,
                outbound: (!empty).then(|| relay(last)),
                later_jobs_depend: false,
                hold_until: None,
            }),
        };
    }
    // A client's phone that is a service number, from before the API refused them: the
    // sender is not remembered and nothing is relayed.
    if !client.real_phone.is_personal() {
        return reply(
            TextAnswer::Nothing,
            Some(client),
            Direction::ToClient,
            Outcome::BlockedNumberType,
        );
    }
    if !empty && !may_relay(from, proxy) {
        return reply(
            TextAnswer::Nothing,
            Some(client),
            Direction::ToClient,
            Outcome::RateLimited,
        );
    }
    Decision {
        answer: Answer::Text(TextAnswer::Nothing),
        record: Some(RoutingJob {
            interaction: record(Some(client), Direction::ToClient, outcome),
            new_last_caller: Some((client.id, from.clone())),
            outbound: (!empty).then(|| relay(&client.real_phone)),
            later_jobs_depend: false,
            hold_until: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClientId, ClientName, Email};

    const PROXY: &str = "+33780000001";
    /// Another proxy of ours, of another client.
    const OTHER_PROXY: &str = "+33780000002";
    const CLIENT: &str = "+33612345678";
    const COURIER: &str = "+33698765432";
    const FROM_PORTUGAL: &str = "+351912345678";
    const FROM_US: &str = "+12025550123";
    /// France's 089x: premium rate.
    const PREMIUM: &str = "+33899123456";
    /// A sender over its relay limit.
    const FLOODER: &str = "+33611110000";

    fn e164(n: &str) -> E164 {
        E164::parse_shape(n).unwrap()
    }

    /// One client on the proxy, with this last caller.
    fn clients(last_caller: Option<&str>) -> HashMap<E164, Client> {
        let client = Client {
            id: ClientId::new(7).unwrap(),
            name: ClientName::parse("Jeanne").unwrap(),
            mail: Email::parse("jeanne@example.com").unwrap(),
            real_phone: e164(CLIENT),
            proxy: Some(e164(PROXY)),
            iso_residency: None,
            country_code: Some("+33".into()),
            last_caller: last_caller.map(e164),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        HashMap::from([(e164(PROXY), client)])
    }

    /// A webhook's case: who to whom (and the body of a text), the client's last caller →
    /// the answer, the outcome recorded, the new last caller (calls) or whom the body is
    /// relayed to (texts), and whether the relay limits were asked.
    struct Case {
        from: Option<&'static str>,
        to: Option<&'static str>,
        last: Option<&'static str>,
        answer: Answer,
        outcome: Option<Outcome>,
        then: Option<&'static str>,
        limited: bool,
    }

    fn case(
        from: Option<&'static str>,
        to: Option<&'static str>,
        last: Option<&'static str>,
        answer: Answer,
        outcome: Option<Outcome>,
        then: Option<&'static str>,
    ) -> Case {
        Case {
            from,
            to,
            last,
            answer,
            outcome,
            then,
            limited: false,
        }
    }

    fn asked(mut c: Case) -> Case {
        c.limited = true;
        c
    }

    /// Decides with the relay limits refusing `FLOODER` only; answers the decision and how
    /// often the limits were asked.
    fn decide(c: &Case, decide: impl Fn(&Facts, &mut MayRelay) -> Decision) -> (Decision, u32) {
        let routing = Routing::default();
        let clients = clients(c.last);
        let ours = HashSet::from([e164(PROXY), e164(OTHER_PROXY)]);
        let facts = Facts {
            routing: &routing,
            clients: &clients,
            ours: &ours,
        };
        let mut asked = 0;
        let mut may_relay = |sender: &E164, proxy: &E164| {
            assert_eq!(proxy.as_str(), PROXY);
            asked += 1;
            sender.as_str() != FLOODER
        };
        let d = decide(&facts, &mut may_relay);
        (d, asked)
    }

    #[test]
    fn calls() {
        let connect = |n: &str| {
            Answer::Call(CallAnswer::Connect {
                proxy: e164(PROXY),
                number: e164(n),
                // A call to the client names them; the client's own call names nobody.
                to_client: (n == CLIENT).then(|| ClientId::new(7).unwrap()),
            })
        };
        let voice = Answer::Call;
        let table = vec![
            asked(case(
                Some(COURIER),
                Some(PROXY),
                None,
                connect(CLIENT),
                Some(Outcome::Forwarded),
                Some(COURIER),
            )),
            asked(case(
                Some(FROM_PORTUGAL),
                Some(PROXY),
                None,
                connect(CLIENT),
                Some(Outcome::Forwarded),
                Some(FROM_PORTUGAL),
            )),
            asked(case(
                Some(CLIENT),
                Some(PROXY),
                Some(COURIER),
                connect(COURIER),
                Some(Outcome::Forwarded),
                None,
            )),
            case(
                Some(CLIENT),
                Some(PROXY),
                None,
                voice(CallAnswer::NoRecentCaller),
                Some(Outcome::NoRecentCaller),
                None,
            ),
            case(
                Some(FROM_US),
                Some(PROXY),
                None,
                voice(CallAnswer::CountryBlocked),
                Some(Outcome::BlockedCountry),
                None,
            ),
            case(
                Some(COURIER),
                Some("+33780000999"),
                None,
                voice(CallAnswer::UnknownNumber),
                Some(Outcome::UnknownProxy),
                None,
            ),
            // Anonymous caller: nothing to check it against, nothing to record it as.
            case(
                None,
                Some(PROXY),
                None,
                voice(CallAnswer::CountryBlocked),
                None,
                None,
            ),
            case(
                Some(COURIER),
                None,
                None,
                voice(CallAnswer::UnknownNumber),
                None,
                None,
            ),
            // A premium-rate caller is not remembered, whoever the last caller was.
            case(
                Some(PREMIUM),
                Some(PROXY),
                Some(COURIER),
                voice(CallAnswer::Unavailable),
                Some(Outcome::BlockedNumberType),
                None,
            ),
            // A premium-rate last caller (remembered before the rule) is never dialled.
            case(
                Some(CLIENT),
                Some(PROXY),
                Some(PREMIUM),
                voice(CallAnswer::NoRecentCaller),
                Some(Outcome::BlockedNumberType),
                None,
            ),
            // A proxy calling a proxy, known or not.
            case(
                Some(OTHER_PROXY),
                Some(PROXY),
                None,
                voice(CallAnswer::Unavailable),
                Some(Outcome::OwnNumber),
                None,
            ),
            case(
                Some(OTHER_PROXY),
                Some("+33780000999"),
                None,
                voice(CallAnswer::Unavailable),
                Some(Outcome::OwnNumber),
                None,
            ),
            // A last caller that is one of ours (stored before the rule, or imported): never
            // dialled, and the limits are not spent.
            case(
                Some(CLIENT),
                Some(PROXY),
                Some(OTHER_PROXY),
                voice(CallAnswer::NoRecentCaller),
                Some(Outcome::OwnNumber),
                None,
            ),
            // Over the relay limit: not connected, not remembered.
            asked(case(
                Some(FLOODER),
                Some(PROXY),
                Some(COURIER),
                voice(CallAnswer::Unavailable),
                Some(Outcome::RateLimited),
                None,
            )),
        ];
        for c in table {
            let call = Call {
                from: c.from.map(e164),
                to: c.to.map(e164),
                sid: Some("CA1".into()),
            };
            let (d, asked) = decide(&c, |facts, may| decide_call(facts, &call, may));
            let name = format!("{:?} -> {:?} (last {:?})", c.from, c.to, c.last);
            assert_eq!(d.answer, c.answer, "{name}");
            assert_eq!(
                d.record.as_ref().map(|r| r.interaction.outcome),
                c.outcome,
                "{name}"
            );
            assert_eq!(
                d.record
                    .as_ref()
                    .and_then(|r| r.new_last_caller.as_ref())
                    .map(|(_, n)| n.to_string()),
                c.then.map(str::to_owned),
                "{name}"
            );
            assert!(
                d.record.iter().all(|r| r.outbound.is_none()),
                "a call sends nothing"
            );
            assert_eq!(asked, u32::from(c.limited), "limits asked: {name}");
        }
    }

    #[test]
    fn a_client_over_the_limit_reaches_no_one() {
        let routing = Routing::default();
        let clients = clients(Some(COURIER));
        let ours = HashSet::new();
        let facts = Facts {
            routing: &routing,
            clients: &clients,
            ours: &ours,
        };
        let call = Call {
            from: Some(e164(CLIENT)),
            to: Some(e164(PROXY)),
            sid: Some("CA1".into()),
        };
        let d = decide_call(&facts, &call, &mut |_, _| false);
        assert_eq!(d.answer, Answer::Call(CallAnswer::Unavailable));
        let record = d.record.unwrap();
        assert_eq!(record.interaction.outcome, Outcome::RateLimited);
        assert_eq!(record.interaction.direction, Direction::FromClient);
        let text = Text {
            from: Some(e164(CLIENT)),
            to: Some(e164(PROXY)),
            body: "J'arrive".into(),
            sid: Some("SM1".into()),
        };
        let d = decide_text(&facts, &text, &mut |_, _| false);
        assert_eq!(d.answer, Answer::Text(TextAnswer::Nothing));
        let record = d.record.unwrap();
        assert_eq!(record.interaction.outcome, Outcome::RateLimited);
        assert!(record.outbound.is_none(), "nothing relayed");
    }

    #[test]
    fn texts() {
        let nothing = Answer::Text(TextAnswer::Nothing);
        let table = vec![
            (
                "Je suis en bas",
                asked(case(
                    Some(COURIER),
                    Some(PROXY),
                    None,
                    nothing.clone(),
                    Some(Outcome::Forwarded),
                    Some(CLIENT),
                )),
            ),
            (
                "J'arrive",
                asked(case(
                    Some(CLIENT),
                    Some(PROXY),
                    Some(COURIER),
                    nothing.clone(),
                    Some(Outcome::Forwarded),
                    Some(COURIER),
                )),
            ),
            (
                "Allô ?",
                case(
                    Some(CLIENT),
                    Some(PROXY),
                    None,
                    Answer::Text(TextAnswer::NoRecentCorrespondent),
                    Some(Outcome::NoRecentCaller),
                    None,
                ),
            ),
            // Nothing to relay: the limits are not spent.
            (
                "  ",
                case(
                    Some(COURIER),
                    Some(PROXY),
                    None,
                    nothing.clone(),
                    Some(Outcome::EmptyMessage),
                    None,
                ),
            ),
            (
                "hi",
                case(
                    Some(FROM_US),
                    Some(PROXY),
                    None,
                    Answer::Text(TextAnswer::CountryBlocked),
                    Some(Outcome::BlockedCountry),
                    None,
                ),
            ),
            (
                "allo",
                case(
                    Some(COURIER),
                    Some("+33780000999"),
                    None,
                    Answer::Text(TextAnswer::UnknownProxy),
                    Some(Outcome::UnknownProxy),
                    None,
                ),
            ),
            (
                "allo",
                case(None, Some(PROXY), None, nothing.clone(), None, None),
            ),
            // A premium-rate sender gets no reply (a text to it would cost), even from an
            // unknown proxy, and is neither relayed nor remembered.
            (
                "rappelez-moi",
                case(
                    Some(PREMIUM),
                    Some(PROXY),
                    None,
                    nothing.clone(),
                    Some(Outcome::BlockedNumberType),
                    None,
                ),
            ),
            (
                "rappelez-moi",
                case(
                    Some(PREMIUM),
                    Some("+33780000999"),
                    None,
                    nothing.clone(),
                    Some(Outcome::BlockedNumberType),
                    None,
                ),
            ),
            (
                "J'arrive",
                case(
                    Some(CLIENT),
                    Some(PROXY),
                    Some(PREMIUM),
                    Answer::Text(TextAnswer::NoRecentCorrespondent),
                    Some(Outcome::BlockedNumberType),
                    None,
                ),
            ),
            // A proxy texting a proxy: no reply, no relay (either would loop).
            (
                "relais",
                case(
                    Some(OTHER_PROXY),
                    Some(PROXY),
                    Some(COURIER),
                    nothing.clone(),
                    Some(Outcome::OwnNumber),
                    None,
                ),
            ),
            (
                "relais",
                case(
                    Some(OTHER_PROXY),
                    Some("+33780000999"),
                    None,
                    nothing.clone(),
                    Some(Outcome::OwnNumber),
                    None,
                ),
            ),
            // A last caller that is one of ours: never texted.
            (
                "J'arrive",
                case(
                    Some(CLIENT),
                    Some(PROXY),
                    Some(OTHER_PROXY),
                    Answer::Text(TextAnswer::NoRecentCorrespondent),
                    Some(Outcome::OwnNumber),
                    None,
                ),
            ),
            (
                "encore",
                asked(case(
                    Some(FLOODER),
                    Some(PROXY),
                    None,
                    nothing.clone(),
                    Some(Outcome::RateLimited),
                    None,
                )),
            ),
        ];
        for (body, c) in table {
            let text = Text {
                from: c.from.map(e164),
                to: c.to.map(e164),
                body: body.into(),
                sid: Some("SM1".into()),
            };
            let (d, asked) = decide(&c, |facts, may| decide_text(facts, &text, may));
            let name = format!("{:?} -> {:?}: {body:?} (last {:?})", c.from, c.to, c.last);
            assert_eq!(d.answer, c.answer, "{name}");
            assert_eq!(
                d.record.as_ref().map(|r| r.interaction.outcome),
                c.outcome,
                "{name}"
            );
            let relay = d.record.as_ref().and_then(|r| r.outbound.as_ref());
            assert_eq!(
                relay.map(|m| m.to.to_string()),
                c.then.map(str::to_owned),
                "{name}"
            );
            if let Some(m) = relay {
                assert_eq!(m.from, e164(PROXY), "relayed from the proxy: {name}");
                assert_eq!(m.body.as_deref(), Some(body), "{name}");
                assert_eq!(m.dedupe_key.as_deref(), Some("relay:SM1"), "{name}");
            }
            let remembered = d.record.as_ref().and_then(|r| r.new_last_caller.as_ref());
            if c.outcome != Some(Outcome::Forwarded) && c.outcome != Some(Outcome::EmptyMessage) {
                assert!(remembered.is_none(), "not remembered: {name}");
            }
            assert_eq!(asked, u32::from(c.limited), "limits asked: {name}");
        }
    }
}

//! The routing rules (SPEC §5), as pure functions of the webhook and the clients it concerns:
//! what to answer and what to record. No I/O: the engine (`engine.rs`) reads and writes.

use std::collections::HashMap;

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
    })
}

pub(super) fn decide_call(
    routing: &Routing,
    clients: &HashMap<E164, Client>,
    call: &Call,
) -> Decision {
    let voice = |answer| Answer::Call(answer);
    let Some(proxy) = &call.to else {
        return Decision {
            answer: voice(CallAnswer::UnknownNumber),
            record: None,
        };
    };
    let record = |client, direction, outcome| {
        interaction(
            Channel::Voice,
            proxy,
            client,
            direction,
            outcome,
            call.sid.as_ref(),
        )
    };
    let Some(client) = clients.get(proxy) else {
        let record = only(record(None, Direction::Unknown, Outcome::UnknownProxy));
        return Decision {
            answer: voice(CallAnswer::UnknownNumber),
            record,
        };
    };
    // An anonymous or garbled caller has no country to check: refused as one from
    // elsewhere, and not recorded (there is nothing to record it as).
    let Some(from) = &call.from else {
        return Decision {
            answer: voice(CallAnswer::CountryBlocked),
            record: None,
        };
    };
    if !routing.allow_list.allows(from) {
        let record = only(record(
            Some(client),
            Direction::Unknown,
            Outcome::BlockedCountry,
        ));
        return Decision {
            answer: voice(CallAnswer::CountryBlocked),
            record,
        };
    }
    if *from == client.real_phone {
        return match &client.last_caller {
            None => Decision {
                answer: voice(CallAnswer::NoRecentCaller),
                record: only(record(
                    Some(client),
                    Direction::FromClient,
                    Outcome::NoRecentCaller,
                )),
            },
            Some(last) => Decision {
                answer: voice(CallAnswer::Connect {
                    proxy: proxy.clone(),
                    number: last.clone(),
                }),
                record: only(record(
                    Some(client),
                    Direction::FromClient,
                    Outcome::Forwarded,
                )),
            },
        };
    }
    Decision {
        answer: voice(CallAnswer::Connect {
            proxy: proxy.clone(),
            number: client.real_phone.clone(),
        }),
        record: Some(RoutingJob {
            interaction: record(Some(client), Direction::ToClient, Outcome::Forwarded),
            new_last_caller: Some((client.id, from.clone())),
            outbound: None,
            later_jobs_depend: false,
        }),
    }
}

pub(super) fn decide_text(
    routing: &Routing,
    clients: &HashMap<E164, Client>,
    text: &Text,
) -> Decision {
    let sms = |answer| Answer::Text(answer);
    let (Some(from), Some(proxy)) = (&text.from, &text.to) else {
        return Decision {
            answer: sms(TextAnswer::Nothing),
            record: None,
        };
    };
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
    let Some(client) = clients.get(proxy) else {
        let record = only(record(None, Direction::Unknown, Outcome::UnknownProxy));
        return Decision {
            answer: sms(TextAnswer::UnknownProxy),
            record,
        };
    };
    if !routing.allow_list.allows(from) {
        let record = only(record(
            Some(client),
            Direction::Unknown,
            Outcome::BlockedCountry,
        ));
        return Decision {
            answer: sms(TextAnswer::CountryBlocked),
            record,
        };
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
            let record = only(record(
                Some(client),
                Direction::FromClient,
                Outcome::NoRecentCaller,
            ));
            return Decision {
                answer: sms(TextAnswer::NoRecentCorrespondent),
                record,
            };
        };
        return Decision {
            answer: sms(TextAnswer::Nothing),
            record: Some(RoutingJob {
                interaction: record(Some(client), Direction::FromClient, outcome),
                new_last_caller: None,
                outbound: (!empty).then(|| relay(last)),
                later_jobs_depend: false,
            }),
        };
    }
    Decision {
        answer: sms(TextAnswer::Nothing),
        record: Some(RoutingJob {
            interaction: record(Some(client), Direction::ToClient, outcome),
            new_last_caller: Some((client.id, from.clone())),
            outbound: (!empty).then(|| relay(&client.real_phone)),
            later_jobs_depend: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClientId, ClientName, Email};

    const PROXY: &str = "+33780000001";
    const CLIENT: &str = "+33612345678";
    const COURIER: &str = "+33698765432";
    const FROM_PORTUGAL: &str = "+351912345678";
    const FROM_US: &str = "+12025550123";

    /// (from, to, last caller) → (answer, outcome recorded, new last caller).
    type CallCase = (
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Answer,
        Option<Outcome>,
        Option<&'static str>,
    );
    /// (from, to, body, last caller) → (answer, outcome, relayed to).
    type TextCase = (
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
        Option<&'static str>,
        Answer,
        Option<Outcome>,
        Option<&'static str>,
    );

    fn e164(n: &str) -> E164 {
        E164::parse(n).unwrap()
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

    /// (from, to, last caller) → (answer, outcome recorded, new last caller).
    #[test]
    fn calls() {
        let connect = |n: &str| {
            Answer::Call(CallAnswer::Connect {
                proxy: e164(PROXY),
                number: e164(n),
            })
        };
        let table: Vec<CallCase> = vec![
            (
                Some(COURIER),
                Some(PROXY),
                None,
                connect(CLIENT),
                Some(Outcome::Forwarded),
                Some(COURIER),
            ),
            (
                Some(FROM_PORTUGAL),
                Some(PROXY),
                None,
                connect(CLIENT),
                Some(Outcome::Forwarded),
                Some(FROM_PORTUGAL),
            ),
            (
                Some(CLIENT),
                Some(PROXY),
                Some(COURIER),
                connect(COURIER),
                Some(Outcome::Forwarded),
                None,
            ),
            (
                Some(CLIENT),
                Some(PROXY),
                None,
                Answer::Call(CallAnswer::NoRecentCaller),
                Some(Outcome::NoRecentCaller),
                None,
            ),
            (
                Some(FROM_US),
                Some(PROXY),
                None,
                Answer::Call(CallAnswer::CountryBlocked),
                Some(Outcome::BlockedCountry),
                None,
            ),
            (
                Some(COURIER),
                Some("+33780000999"),
                None,
                Answer::Call(CallAnswer::UnknownNumber),
                Some(Outcome::UnknownProxy),
                None,
            ),
            // Anonymous caller: nothing to check it against, nothing to record it as.
            (
                None,
                Some(PROXY),
                None,
                Answer::Call(CallAnswer::CountryBlocked),
                None,
                None,
            ),
            (
                Some(COURIER),
                None,
                None,
                Answer::Call(CallAnswer::UnknownNumber),
                None,
                None,
            ),
        ];
        let routing = Routing::default();
        for (from, to, last, answer, outcome, new_last) in table {
            let call = Call {
                from: from.map(e164),
                to: to.map(e164),
                sid: Some("CA1".into()),
            };
            let d = decide_call(&routing, &clients(last), &call);
            let case = format!("{from:?} -> {to:?} (last {last:?})");
            assert_eq!(d.answer, answer, "{case}");
            assert_eq!(
                d.record.as_ref().map(|r| r.interaction.outcome),
                outcome,
                "{case}"
            );
            assert_eq!(
                d.record
                    .as_ref()
                    .and_then(|r| r.new_last_caller.as_ref())
                    .map(|(_, c)| c.to_string()),
                new_last.map(str::to_owned),
                "{case}"
            );
            assert!(
                d.record.iter().all(|r| r.outbound.is_none()),
                "a call sends nothing"
            );
        }
    }

    /// (from, to, body, last caller) → (answer, outcome, relayed to).
    #[test]
    fn texts() {
        let nothing = Answer::Text(TextAnswer::Nothing);
        let table: Vec<TextCase> = vec![
            (
                Some(COURIER),
                Some(PROXY),
                "Je suis en bas",
                None,
                nothing.clone(),
                Some(Outcome::Forwarded),
                Some(CLIENT),
            ),
            (
                Some(CLIENT),
                Some(PROXY),
                "J'arrive",
                Some(COURIER),
                nothing.clone(),
                Some(Outcome::Forwarded),
                Some(COURIER),
            ),
            (
                Some(CLIENT),
                Some(PROXY),
                "Allô ?",
                None,
                Answer::Text(TextAnswer::NoRecentCorrespondent),
                Some(Outcome::NoRecentCaller),
                None,
            ),
            (
                Some(COURIER),
                Some(PROXY),
                "  ",
                None,
                nothing.clone(),
                Some(Outcome::EmptyMessage),
                None,
            ),
            (
                Some(FROM_US),
                Some(PROXY),
                "hi",
                None,
                Answer::Text(TextAnswer::CountryBlocked),
                Some(Outcome::BlockedCountry),
                None,
            ),
            (
                Some(COURIER),
                Some("+33780000999"),
                "allo",
                None,
                Answer::Text(TextAnswer::UnknownProxy),
                Some(Outcome::UnknownProxy),
                None,
            ),
            (None, Some(PROXY), "allo", None, nothing.clone(), None, None),
        ];
        let routing = Routing::default();
        for (from, to, body, last, answer, outcome, relayed_to) in table {
            let text = Text {
                from: from.map(e164),
                to: to.map(e164),
                body: body.into(),
                sid: Some("SM1".into()),
            };
            let d = decide_text(&routing, &clients(last), &text);
            let case = format!("{from:?} -> {to:?}: {body:?} (last {last:?})");
            assert_eq!(d.answer, answer, "{case}");
            assert_eq!(
                d.record.as_ref().map(|r| r.interaction.outcome),
                outcome,
                "{case}"
            );
            let relay = d.record.as_ref().and_then(|r| r.outbound.as_ref());
            assert_eq!(
                relay.map(|m| m.to.to_string()),
                relayed_to.map(str::to_owned),
                "{case}"
            );
            if let Some(m) = relay {
                assert_eq!(m.from, e164(PROXY), "relayed from the proxy: {case}");
                assert_eq!(m.body.as_deref(), Some(body), "{case}");
                assert_eq!(m.dedupe_key.as_deref(), Some("relay:SM1"), "{case}");
            }
        }
    }
}

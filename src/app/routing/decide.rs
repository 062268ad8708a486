//! The routing rules (SPEC §5 and the hardening of issue 7), as pure functions of the webhook
//! and what the batch read: what to answer and what to record. No I/O: the engine
//! (`engine.rs`) reads and writes, and asks the relay limits (`may_relay`).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::contacts::{self, Command};
use super::{Answer, Call, CallAnswer, ContactLine, Text, TextAnswer, ToClient, guard, keywords};
use crate::app::Routing;
use crate::domain::{ClientId, E164, OrderId};
use crate::store::{
    BlockChange, Channel, Client, Contact, ContactSeen, Direction, NewInteraction, NewOutbound,
    Outcome, RoutingJob,
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
    /// The batch's senders, and its clients' recent contacts, that are numbers of ours.
    pub ours: &'a HashSet<E164>,
    /// Who opted out of which proxy's texts, where opt-outs apply (`keywords.rs`).
    pub opted_out: &'a keywords::OptedOut,
    /// The clients' contacts the batch read: the recent ones, and the senders.
    pub contacts: &'a HashMap<ClientId, Vec<Contact>>,
    /// Each client's latest order: what a new contact is about.
    pub latest_orders: &'a HashMap<ClientId, OrderId>,
    /// The contact window's start: a contact last seen before it has lapsed.
    pub since: DateTime<Utc>,
}

impl Facts<'_> {
    fn contacts_of(&self, client: &Client) -> &[Contact] {
        self.contacts.get(&client.id).map_or(&[], Vec::as_slice)
    }

    /// The client's recent contacts, numbered from 1 as `#?` shows them.
    fn recent(&self, client: &Client) -> Vec<ContactLine> {
        contacts::recent(self.contacts_of(client), self.since)
            .into_iter()
            .enumerate()
            .map(|(i, c)| ContactLine::of(i + 1, c))
            .collect()
    }

    /// Whom a client reaches without choosing: their recent contacts that are not blocked
    /// and may be reached, newest first. When there are none, why: no recent contact, or the
    /// reason the most recent may not be reached.
    fn reachable(&self, client: &Client) -> Result<Vec<ContactLine>, Outcome> {
        let open: Vec<ContactLine> = self
            .recent(client)
            .into_iter()
            .filter(|c| !c.blocked)
            .collect();
        let Some(first) = open.first() else {
            return Err(Outcome::NoRecentCaller);
        };
        let why = unreachable_contact(self, &first.number);
        let reachable: Vec<ContactLine> = open
            .into_iter()
            .filter(|c| unreachable_contact(self, &c.number).is_none())
            .collect();
        match why {
            Some(why) if reachable.is_empty() => Err(why),
            _ => Ok(reachable),
        }
    }

    fn seen(&self, client: &Client, number: &E164, channel: Channel) -> ContactSeen {
        ContactSeen {
            client_id: client.id,
            number: number.clone(),
            channel,
            order_id: self.latest_orders.get(&client.id).cloned(),
        }
    }
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
        block: None,
        outbound: None,
        later_jobs_depend: false,
        guard: Default::default(),
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
        let reachable = match facts.reachable(client) {
            Ok(reachable) => reachable,
            Err(why) => {
                return say(
                    CallAnswer::NoRecentCaller,
                    Some(client),
                    Direction::FromClient,
                    why,
                );
            }
        };
        if !may_relay(from, proxy) {
            return say(
                CallAnswer::Unavailable,
                Some(client),
                Direction::FromClient,
                Outcome::RateLimited,
            );
        }
        let first = reachable[0].number.clone();
        // More than one: the client chooses on the keypad, the most recent by default.
        let answer = if reachable.len() > 1 && facts.routing.contact_choice {
            CallAnswer::Menu {
                proxy: proxy.clone(),
                choices: reachable,
                default: first,
                again: false,
            }
        } else {
            CallAnswer::Connect {
                proxy: proxy.clone(),
                number: first,
                to_client: None,
            }
        };
        return say(
            answer,
            Some(client),
            Direction::FromClient,
            Outcome::Forwarded,
        );
    }
    // A correspondent the client blocked hears the neutral answer.
    if contacts::is_blocked(facts.contacts_of(client), from) {
        return say(
            CallAnswer::Unavailable,
            Some(client),
            Direction::ToClient,
            Outcome::BlockedContact,
        );
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
            to_client: Some(ToClient {
                client: client.id,
                order: facts.latest_orders.get(&client.id).cloned(),
                quiet_until: None,
            }),
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
            new_last_caller: Some(facts.seen(client, from, Channel::Voice)),
            block: None,
            outbound: None,
            later_jobs_depend: false,
            guard: Default::default(),
            hold_until: None,
        }),
    }
}

/// A text: an opt-out keyword is answered on its own (`keywords.rs`); any other is decided
/// by the rules, its relay screened by the unmasking guard (`guard.rs`), and nothing is sent
/// to someone who opted out of the proxy's texts.
pub(super) fn decide_text(facts: &Facts, text: &Text, may_relay: &mut MayRelay) -> Decision {
    if let Some(decision) = keywords::answer(facts, text) {
        return decision;
    }
    let decision = guard::screen(facts, text, relay_text(facts, text, may_relay));
    keywords::enforce(facts, text, decision)
}

fn relay_text(facts: &Facts, text: &Text, may_relay: &mut MayRelay) -> Decision {
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
    let relay =
        |to: &E164, body: &str| super::relay::outbound(facts.routing, text, body, from, proxy, to);
    let empty = super::relay::is_empty(text);
    let outcome = if empty {
        Outcome::EmptyMessage
    } else {
        Outcome::Forwarded
    };
    if *from == client.real_phone {
        return client_text(facts, text, client, may_relay, relay);
    }
    // A correspondent the client blocked: not remembered, not relayed, not told.
    if contacts::is_blocked(facts.contacts_of(client), from) {
        return reply(
            TextAnswer::Nothing,
            Some(client),
            Direction::ToClient,
            Outcome::BlockedContact,
        );
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
            new_last_caller: Some(facts.seen(client, from, Channel::Sms)),
            block: None,
            outbound: (!empty).then(|| relay(&client.real_phone, &text.body)),
            later_jobs_depend: false,
            guard: Default::default(),
            hold_until: None,
        }),
    }
}

/// A client's text to their proxy: a command (`#?`, `#N message`, `BLOQUER #N`,
/// `DEBLOQUER #N`), or a reply relayed to their most recent contact.
fn client_text(
    facts: &Facts,
    text: &Text,
    client: &Client,
    may_relay: &mut MayRelay,
    relay: impl Fn(&E164, &str) -> NewOutbound,
) -> Decision {
    let (Some(from), Some(proxy)) = (&text.from, &text.to) else {
        unreachable!("a client's text has both numbers");
    };
    let record = |outcome| {
        interaction(
            Channel::Sms,
            proxy,
            Some(client),
            Direction::FromClient,
            outcome,
            text.sid.as_ref(),
        )
    };
    let reply = |answer, outcome| Decision {
        answer: Answer::Text(answer),
        record: only(record(outcome)),
    };
    let recent = facts.recent(client);
    // The contact `#N` names.
    let nth = |n: usize| recent.get(n - 1).cloned();
    // Without choice, every text is a reply to the most recent contact.
    let command = if facts.routing.contact_choice {
        contacts::command(&text.body)
    } else {
        Command::Plain
    };
    let (to, body) = match command {
        Command::List if recent.is_empty() => {
            return reply(TextAnswer::NoRecentCorrespondent, Outcome::NoRecentCaller);
        }
        Command::List => return reply(TextAnswer::Contacts(recent), Outcome::Command),
        Command::Bad => return reply(TextAnswer::CommandUsage, Outcome::BadCommand),
        Command::Block(n) | Command::Unblock(n) => {
            let Some(mut contact) = nth(n) else {
                return reply(TextAnswer::NoSuchContact(n), Outcome::BadCommand);
            };
            let blocked = matches!(command, Command::Block(_));
            contact.blocked = blocked;
            let mut job = only(record(Outcome::Command)).expect("a record");
            job.block = Some(BlockChange {
                client_id: client.id,
                number: contact.number.clone(),
                blocked,
            });
            return Decision {
                answer: Answer::Text(if blocked {
                    TextAnswer::ContactBlocked(contact)
                } else {
                    TextAnswer::ContactUnblocked(contact)
                }),
                record: Some(job),
            };
        }
        Command::To(n, body) => {
            let Some(contact) = nth(n) else {
                return reply(TextAnswer::NoSuchContact(n), Outcome::BadCommand);
            };
            if contact.blocked {
                return reply(TextAnswer::IsBlocked(contact), Outcome::BadCommand);
            }
            if let Some(why) = unreachable_contact(facts, &contact.number) {
                return reply(TextAnswer::NoRecentCorrespondent, why);
            }
            (contact.number, body)
        }
        Command::Plain => match facts.reachable(client) {
            Ok(reachable) => (reachable[0].number.clone(), text.body.as_str()),
            Err(why) => return reply(TextAnswer::NoRecentCorrespondent, why),
        },
    };
    let empty = body.trim().is_empty() && text.media.is_empty();
    if !empty && !may_relay(from, proxy) {
        return reply(TextAnswer::Nothing, Outcome::RateLimited);
    }
    let outcome = if empty {
        Outcome::EmptyMessage
    } else {
        Outcome::Forwarded
    };
    let mut job = only(record(outcome)).expect("a record");
    job.outbound = (!empty).then(|| relay(&to, body));
    Decision {
        answer: Answer::Text(TextAnswer::Nothing),
        record: Some(job),
    }
}

/// The client's key on the call menu: the contact it numbers, if it is still one the client
/// may reach; otherwise the menu again. Records nothing: the call was recorded when the menu
/// was offered.
pub(super) fn choose(facts: &Facts, call: &Call, digits: &str) -> CallAnswer {
    let (Some(from), Some(proxy)) = (&call.from, &call.to) else {
        return CallAnswer::Unavailable;
    };
    // Only the client's own call gets a menu: anything else posted here is not one of ours.
    let Some(client) = facts.clients.get(proxy).filter(|c| &c.real_phone == from) else {
        return CallAnswer::Unavailable;
    };
    let reachable = match facts.reachable(client) {
        Ok(reachable) => reachable,
        Err(_) => return CallAnswer::NoRecentCaller,
    };
    let chosen = digits
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| reachable.iter().find(|c| c.n == n));
    match chosen {
        Some(contact) => CallAnswer::Connect {
            proxy: proxy.clone(),
            number: contact.number.clone(),
            to_client: None,
        },
        None => CallAnswer::Menu {
            proxy: proxy.clone(),
            default: reachable[0].number.clone(),
            choices: reachable,
            again: true,
        },
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

    /// The client's contacts: (number, minutes since they last reached the client, blocked).
    fn contacts<'a>(
        list: impl IntoIterator<Item = (&'a str, i64, bool)>,
    ) -> HashMap<ClientId, Vec<Contact>> {
        let id = ClientId::new(7).unwrap();
        let list = list
            .into_iter()
            .map(|(n, minutes, blocked)| Contact {
                client_id: id,
                number: e164(n),
                last_at: Utc::now() - chrono::Duration::minutes(minutes),
                last_channel: Some(Channel::Voice),
                order_id: None,
                blocked_at: blocked.then(Utc::now),
            })
            .collect();
        HashMap::from([(id, list)])
    }

    /// Decides `decide` for a client with these contacts (see `contacts`), the relay limits
    /// letting everything through.
    fn with_contacts<'a>(
        list: impl IntoIterator<Item = (&'a str, i64, bool)>,
        decide: impl Fn(&Facts, &mut MayRelay) -> Decision,
    ) -> Decision {
        let routing = Routing::default();
        let clients = clients(None);
        let ours = HashSet::from([e164(PROXY), e164(OTHER_PROXY)]);
        let contacts = contacts(list);
        let facts = Facts {
            routing: &routing,
            clients: &clients,
            ours: &ours,
            contacts: &contacts,
            latest_orders: &HashMap::from([(
                ClientId::new(7).unwrap(),
                OrderId::parse("1234").unwrap(),
            )]),
            opted_out: &Default::default(),
            since: Utc::now() - chrono::Duration::days(7),
        };
        decide(&facts, &mut |_, _| true)
    }

    fn text_from(from: &str, body: &str) -> Text {
        Text {
            from: Some(e164(from)),
            to: Some(e164(PROXY)),
            body: body.into(),
            sid: Some("SM1".into()),
            media: Default::default(),
        }
    }

    const OTHER: &str = "+33698765400";
    /// Eight days ago: out of the default window.
    const LAPSED: i64 = 8 * 24 * 60;

    #[test]
    fn a_client_reaches_a_recent_contact_never_a_lapsed_or_blocked_one() {
        let call = Call {
            from: Some(e164(CLIENT)),
            to: Some(e164(PROXY)),
            sid: Some("CA1".into()),
        };
        // Only a lapsed one: nobody.
        let d = with_contacts([(COURIER, LAPSED, false)], |f, m| decide_call(f, &call, m));
        assert_eq!(d.answer, Answer::Call(CallAnswer::NoRecentCaller));
        // The most recent is blocked: the next one, without a menu.
        let d = with_contacts([(COURIER, 1, true), (OTHER, 9, false)], |f, m| {
            decide_call(f, &call, m)
        });
        assert_eq!(
            d.answer,
            Answer::Call(CallAnswer::Connect {
                proxy: e164(PROXY),
                number: e164(OTHER),
                to_client: None,
            })
        );
        // Two open: a menu keyed by their #N, the most recent by default.
        let d = with_contacts(
            [(COURIER, 1, false), (FLOODER, 2, true), (OTHER, 9, false)],
            |f, m| decide_call(f, &call, m),
        );
        let Answer::Call(CallAnswer::Menu {
            choices,
            default,
            again,
            ..
        }) = d.answer
        else {
            panic!("a menu");
        };
        assert_eq!(choices.iter().map(|c| c.n).collect::<Vec<_>>(), [1, 3]);
        assert_eq!((default, again), (e164(COURIER), false));
        assert_eq!(d.record.unwrap().interaction.outcome, Outcome::Forwarded);
        // A plain text goes to the most recent open one.
        let d = with_contacts([(COURIER, 1, true), (OTHER, 9, false)], |f, m| {
            decide_text(f, &text_from(CLIENT, "Merci"), m)
        });
        assert_eq!(d.record.unwrap().outbound.unwrap().to, e164(OTHER));
    }

    #[test]
    fn a_client_chooses_lists_and_blocks_by_number() {
        let list = [(COURIER, 1, false), (OTHER, 9, false)];
        let text =
            |body: &str| with_contacts(list, |f, m| decide_text(f, &text_from(CLIENT, body), m));
        let d = text("#2 Je descends");
        let sent = d.record.unwrap().outbound.unwrap();
        assert_eq!(
            (sent.to, sent.body.as_deref()),
            (e164(OTHER), Some("Je descends"))
        );
        let d = text("#?");
        let Answer::Text(TextAnswer::Contacts(lines)) = d.answer else {
            panic!("the list");
        };
        assert_eq!(lines.len(), 2);
        assert_eq!(d.record.unwrap().interaction.outcome, Outcome::Command);
        for (body, answer) in [
            ("#9 Allô", TextAnswer::NoSuchContact(9)),
            ("BLOQUER #3", TextAnswer::NoSuchContact(3)),
            ("#x", TextAnswer::CommandUsage),
            ("#", TextAnswer::CommandUsage),
        ] {
            let d = text(body);
            assert_eq!(d.answer, Answer::Text(answer), "{body}");
            let record = d.record.unwrap();
            assert_eq!(record.interaction.outcome, Outcome::BadCommand, "{body}");
            assert!(
                record.outbound.is_none() && record.block.is_none(),
                "{body}"
            );
        }
        let d = text("BLOQUER #2");
        let block = d.record.unwrap().block.unwrap();
        assert_eq!((block.number, block.blocked), (e164(OTHER), true));
        // A blocked contact: not reached by #N, and its own calls and texts go nowhere.
        let list = [(COURIER, 1, false), (OTHER, 9, true)];
        let d = with_contacts(list, |f, m| {
            decide_text(f, &text_from(CLIENT, "#2 Allô"), m)
        });
        assert!(matches!(d.answer, Answer::Text(TextAnswer::IsBlocked(_))));
        let d = with_contacts(list, |f, m| decide_text(f, &text_from(OTHER, "Allô ?"), m));
        let record = d.record.unwrap();
        assert_eq!(record.interaction.outcome, Outcome::BlockedContact);
        assert!(record.outbound.is_none() && record.new_last_caller.is_none());
        let call = Call {
            from: Some(e164(OTHER)),
            to: Some(e164(PROXY)),
            sid: Some("CA2".into()),
        };
        let d = with_contacts(list, |f, m| decide_call(f, &call, m));
        assert_eq!(d.answer, Answer::Call(CallAnswer::Unavailable));
        // A third party's "#2" is a message like any other, tied to the client's latest order.
        let d = with_contacts(list, |f, m| decide_text(f, &text_from(COURIER, "#2"), m));
        let record = d.record.unwrap();
        assert_eq!(record.outbound.unwrap().to, e164(CLIENT));
        assert_eq!(
            record.new_last_caller.unwrap().order_id.unwrap().as_str(),
            "1234"
        );
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
        let contacts = contacts(c.last.iter().map(|n| (*n, 5, false)));
        let facts = Facts {
            routing: &routing,
            clients: &clients,
            ours: &ours,
            contacts: &contacts,
            latest_orders: &HashMap::new(),
            since: Utc::now() - chrono::Duration::days(7),
            opted_out: &Default::default(),
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
                to_client: (n == CLIENT).then(|| ToClient {
                    client: ClientId::new(7).unwrap(),
                    order: None,
                    quiet_until: None,
                }),
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
                    .map(|seen| seen.number.to_string()),
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
        let contacts = contacts([(COURIER, 5, false)]);
        let facts = Facts {
            routing: &routing,
            clients: &clients,
            ours: &ours,
            contacts: &contacts,
            latest_orders: &HashMap::new(),
            since: Utc::now() - chrono::Duration::days(7),
            opted_out: &Default::default(),
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
            media: Default::default(),
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
                media: Default::default(),
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

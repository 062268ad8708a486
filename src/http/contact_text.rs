//! What a client reads and hears of their recent contacts, from the `[contacts]` catalogue:
//! `#?`'s list, the answers to `#N` and `BLOQUER #N`, the call menu. Numbers are masked: the
//! client tells contacts apart by their last digits, and never reads a full number.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::app::routing::{ContactLine, TextAnswer};
use crate::messages::{Catalogue, ContactWords};
use crate::store::Channel;
use crate::twiml;

/// When a contact last reached the client, in the operator's time zone: the time alone
/// today, with the day otherwise.
fn when(w: &ContactWords, tz: Tz, now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let (local, today) = (at.with_timezone(&tz), now.with_timezone(&tz));
    let time = local.format(&w.time_format).to_string();
    if local.date_naive() == today.date_naive() {
        w.today.replace("{time}", &time)
    } else {
        w.other_day
            .replace("{date}", &local.format(&w.date_format).to_string())
            .replace("{time}", &time)
    }
}

fn fill(template: &str, c: &ContactLine) -> String {
    template
        .replace("{n}", &c.n.to_string())
        .replace("{number}", &c.number.masked().to_string())
}

/// The text answering a client's command, if it has one.
pub fn reply(words: &Catalogue, tz: Tz, answer: &TextAnswer) -> Option<String> {
    let w = &words.contacts;
    Some(match answer {
        TextAnswer::Contacts(lines) => {
            let now = Utc::now();
            let mut text = w.list_header.clone();
            for c in lines {
                let how = match c.channel {
                    Some(Channel::Voice) => &w.by_call,
                    Some(Channel::Sms) => &w.by_text,
                    None => &w.by_unknown,
                };
                let order = c
                    .order
                    .as_ref()
                    .map(|o| w.list_order.replace("{order}", o.as_str()))
                    .unwrap_or_default();
                let blocked = if c.blocked {
                    w.list_blocked.as_str()
                } else {
                    ""
                };
                text.push('\n');
                text.push_str(
                    &fill(&w.list_line, c)
                        .replace("{how}", how)
                        .replace("{when}", &when(w, tz, now, c.at))
                        .replace("{order}", &order)
                        .replace("{blocked}", blocked),
                );
            }
            text.push('\n');
            text.push_str(&w.list_footer);
            text
        }
        TextAnswer::NoSuchContact(n) => w.no_such.replace("{n}", &n.to_string()),
        TextAnswer::CommandUsage => w.usage.clone(),
        TextAnswer::ContactBlocked(c) => fill(&w.blocked, c),
        TextAnswer::ContactUnblocked(c) => fill(&w.unblocked, c),
        TextAnswer::IsBlocked(c) => fill(&w.is_blocked, c),
        _ => return None,
    })
}

/// The call menu's TwiML: a line per contact while a key is awaited (posted to `action`),
/// then the most recent is dialled.
pub fn menu(words: &Catalogue, tz: Tz, menu: Menu<'_>) -> String {
    let w = &words.contacts;
    let now = Utc::now();
    let mut lines: Vec<String> = menu
        .choices
        .iter()
        .map(|c| {
            let how = match c.channel {
                Some(Channel::Voice) => &w.menu_how_call,
                Some(Channel::Sms) => &w.menu_how_text,
                None => &w.menu_how_unknown,
            };
            let order = c
                .order
                .as_ref()
                .map(|o| w.menu_order.replace("{order}", o.as_str()))
                .unwrap_or_default();
            fill(&w.menu_line, c)
                .replace("{how}", how)
                .replace("{when}", &when(w, tz, now, c.at))
                .replace("{order}", &order)
        })
        .collect();
    lines.push(w.menu_default.clone());
    twiml::menu(
        &words.voice_language,
        menu.again.then_some(w.menu_again.as_str()),
        &lines,
        menu.action,
        menu.proxy,
        menu.default,
    )
}

/// A menu to render.
pub struct Menu<'a> {
    pub choices: &'a [ContactLine],
    pub again: bool,
    pub action: &'a str,
    pub proxy: &'a crate::domain::E164,
    pub default: &'a crate::domain::E164,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{E164, OrderId};
    use crate::messages::Language;
    use chrono::TimeZone;

    fn line(
        n: usize,
        at: DateTime<Utc>,
        channel: Option<Channel>,
        order: Option<&str>,
    ) -> ContactLine {
        ContactLine {
            n,
            number: E164::parse_shape("+33698765432").unwrap(),
            at,
            channel,
            order: order.map(|o| OrderId::parse(o).unwrap()),
            blocked: n == 2,
        }
    }

    #[test]
    fn the_list_shows_masked_numbers_times_in_the_zone_and_orders() {
        let words = Catalogue::get(Language::Fr);
        let now = Utc::now();
        // Two days ago, 13:02 UTC: 14 h 02 in Paris in winter, 15 h 02 in summer.
        let earlier = Utc.with_ymd_and_hms(2026, 11, 28, 13, 2, 0).unwrap();
        let text = reply(
            words,
            chrono_tz::Europe::Paris,
            &TextAnswer::Contacts(vec![
                line(1, now, Some(Channel::Voice), Some("1234")),
                line(2, earlier, Some(Channel::Sms), None),
            ]),
        )
        .unwrap();
        assert!(text.contains("#1 +33*****5432, appel à "), "{text}");
        assert!(text.contains(", commande 1234"), "{text}");
        assert!(
            text.contains("#2 +33*****5432, SMS le 28/11 à 14 h 02 (bloqué)"),
            "{text}"
        );
        assert!(!text.contains("98765432"), "{text}");
    }

    #[test]
    fn the_menu_says_each_contact_then_dials_the_most_recent() {
        let words = Catalogue::get(Language::Fr);
        let (proxy, first) = (
            E164::parse_shape("+33780000001").unwrap(),
            E164::parse_shape("+33698765432").unwrap(),
        );
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 13, 2, 0).unwrap();
        let choices = [
            line(1, at, Some(Channel::Voice), Some("1234")),
            line(3, at, None, None),
        ];
        let xml = menu(
            words,
            chrono_tz::Europe::Paris,
            Menu {
                choices: &choices,
                again: true,
                action: "https://x.example/twilio/voice/menu",
                proxy: &proxy,
                default: &first,
            },
        );
        assert!(xml.contains("Ce choix ne correspond"), "{xml}");
        assert!(
            xml.contains("qui vous a appelé le 28/11 à 14 h 02, pour la commande 1234, tapez 1."),
            "{xml}"
        );
        assert!(xml.contains("tapez 3."), "{xml}");
        assert!(
            xml.contains(r#"<Gather action="https://x.example/twilio/voice/menu""#),
            "{xml}"
        );
        assert!(
            xml.ends_with(
                r#"<Dial callerId="+33780000001"><Number>+33698765432</Number></Dial></Response>"#
            ),
            "{xml}"
        );
    }
}

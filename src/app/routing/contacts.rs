//! A client's recent contacts (issue 12): whom a plain reply, `#N`, the call menu and
//! `BLOQUER #N` reach, and the commands a client texts to their proxy. Pure functions.

use chrono::{DateTime, Utc};

use crate::domain::E164;
use crate::store::Contact;

/// Most contacts a client chooses among.
pub const MOST: usize = 5;

/// A client's recent contacts, newest first: those seen since the window's start, at most
/// `MOST`. `#N` is the N-th of them, blocked ones included, so that the numbers `#?` shows
/// are the ones `#N`, `BLOQUER #N` and the menu's keys use.
pub fn recent(contacts: &[Contact], since: DateTime<Utc>) -> Vec<&Contact> {
    let mut recent: Vec<&Contact> = contacts.iter().filter(|c| c.last_at >= since).collect();
    recent.sort_by(|a, b| b.last_at.cmp(&a.last_at).then(a.number.cmp(&b.number)));
    recent.truncate(MOST);
    recent
}

/// Whether the client blocked `number`, whenever they did.
pub fn is_blocked(contacts: &[Contact], number: &E164) -> bool {
    contacts
        .iter()
        .any(|c| &c.number == number && c.blocked_at.is_some())
}

/// What a client's text to their proxy asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// No command: relay the text to the most recent contact.
    Plain,
    /// `#?`: the list of recent contacts.
    List,
    /// `#N message`: relay `message` to contact N.
    To(usize, &'a str),
    /// `BLOQUER #N` / `BLOCK #N`.
    Block(usize),
    /// `DEBLOQUER #N` / `UNBLOCK #N`.
    Unblock(usize),
    /// Starts like a command but names no contact: `#`, `#x`, `#0`, `#2` without a message,
    /// `BLOQUER` without `#N`.
    Bad,
}

/// Reads a client's text. `#N` numbers a contact from 1; the message after it is relayed as
/// written. Keywords are matched whatever their case and accents.
pub fn command(body: &str) -> Command<'_> {
    let text = body.trim();
    if let Some(rest) = text.strip_prefix('#') {
        if rest.trim() == "?" {
            return Command::List;
        }
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (n, message) = rest.split_at(digits);
        return match (n.parse::<usize>(), message.chars().next()) {
            (Ok(n), Some(c)) if n > 0 && c.is_whitespace() && !message.trim().is_empty() => {
                Command::To(n, message.trim())
            }
            _ => Command::Bad,
        };
    }
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let blocks = match fold(word).as_str() {
        "BLOQUER" | "BLOCK" => true,
        "DEBLOQUER" | "UNBLOCK" => false,
        _ => return Command::Plain,
    };
    // "Block party tonight" is a message, not a command.
    let rest = rest.trim();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Command::Plain;
    }
    match rest.strip_prefix('#').map(|n| n.trim().parse::<usize>()) {
        Some(Ok(n)) if n > 0 && blocks => Command::Block(n),
        Some(Ok(n)) if n > 0 => Command::Unblock(n),
        _ => Command::Bad,
    }
}

/// Upper case without the accents French keywords are written with.
fn fold(word: &str) -> String {
    word.chars()
        .map(|c| match c {
            'é' | 'É' | 'è' | 'È' | 'ê' | 'Ê' => 'E',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClientId;
    use chrono::Duration;

    #[test]
    fn commands_are_read_as_a_client_writes_them() {
        assert_eq!(command("#?"), Command::List);
        assert_eq!(command("  # ? "), Command::List);
        assert_eq!(command("#2 J'arrive"), Command::To(2, "J'arrive"));
        assert_eq!(command("#1   à 14 h "), Command::To(1, "à 14 h"));
        assert_eq!(command("#12 x"), Command::To(12, "x"));
        assert_eq!(command("bloquer #3"), Command::Block(3));
        assert_eq!(command("BLOCK #1"), Command::Block(1));
        assert_eq!(command("Débloquer # 2"), Command::Unblock(2));
        assert_eq!(command("UNBLOCK #4"), Command::Unblock(4));
        for bad in [
            "#",
            "#x",
            "#x hello",
            "#0 hi",
            "#2",
            "#2   ",
            "#2hello",
            "#-1 hi",
            "BLOQUER",
            "BLOQUER #x",
            "bloquer #0",
            "unblock #",
        ] {
            assert_eq!(command(bad), Command::Bad, "{bad}");
        }
        for plain in [
            "Bonjour",
            "",
            "bloquez-le",
            "Le #2 est arrivé",
            "block party tonight",
            "UNBLOCK 2",
        ] {
            assert_eq!(command(plain), Command::Plain, "{plain}");
        }
    }

    fn contact(n: &str, minutes_ago: i64, blocked: bool) -> Contact {
        Contact {
            client_id: ClientId::new(1).unwrap(),
            number: E164::parse_shape(n).unwrap(),
            last_at: Utc::now() - Duration::minutes(minutes_ago),
            last_channel: None,
            order_id: None,
            blocked_at: blocked.then(Utc::now),
        }
    }

    #[test]
    fn recent_contacts_are_the_newest_five_within_the_window() {
        let contacts: Vec<Contact> = (0..8)
            .map(|i| contact(&format!("+3361234567{i}"), i * 60, i == 1))
            .chain([contact("+33699999999", 60 * 24 * 8, true)])
            .collect();
        let since = Utc::now() - Duration::days(7);
        let recent: Vec<&str> = recent(&contacts, since)
            .iter()
            .map(|c| c.number.as_str())
            .collect();
        assert_eq!(
            recent,
            [
                "+33612345670",
                "+33612345671",
                "+33612345672",
                "+33612345673",
                "+33612345674"
            ]
        );
        assert!(is_blocked(
            &contacts,
            &E164::parse_shape("+33699999999").unwrap()
        ));
        assert!(!is_blocked(
            &contacts,
            &E164::parse_shape("+33612345670").unwrap()
        ));
    }
}

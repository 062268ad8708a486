//! Country calling codes (`+33`, `+351`) and the callers' country allow-list.
//!
//! Calling codes form a prefix code (no code is the beginning of another), so a number's code
//! is its only prefix of 1 to 3 digits that is a code: the longest-prefix match. The earlier
//! version compared the first three characters, so every +35x and +42x caller was refused.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use super::E164;

/// A country calling code, without its `+`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallingCode(u16);

fn known_codes() -> &'static HashSet<u16> {
    static CODES: OnceLock<HashSet<u16>> = OnceLock::new();
    // By code, not by region: the non-geographic services (+800, +881, +979…) share one
    // region id, "001", which the metadata's list of regions holds once.
    CODES.get_or_init(|| {
        (1..1000)
            .filter(|code| phonenumber::metadata::DATABASE.by_code(code).is_some())
            .collect()
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a country calling code (such as +33 or +351)")]
pub struct CallingCodeError(String);

impl CallingCode {
    /// The calling code of a number.
    pub fn of(number: &E164) -> Option<Self> {
        let digits = &number.as_str()[1..];
        (1..=3)
            .filter_map(|len| digits.get(..len)?.parse::<u16>().ok())
            .find(|code| known_codes().contains(code))
            .map(Self)
    }

    pub fn get(self) -> u16 {
        self.0
    }

    /// How many digits it has (1 to 3).
    pub fn digits(self) -> usize {
        self.0.ilog10() as usize + 1
    }

    pub fn parse(raw: &str) -> Result<Self, CallingCodeError> {
        let digits = raw.trim().trim_start_matches('+');
        digits
            .parse::<u16>()
            .ok()
            .filter(|c| !digits.starts_with('0') && known_codes().contains(c))
            .map(Self)
            .ok_or_else(|| CallingCodeError(raw.trim().to_owned()))
    }
}

impl fmt::Display for CallingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

impl fmt::Debug for CallingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// The calling codes whose callers may use a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(HashSet<CallingCode>);

impl AllowList {
    /// The EU, the EEA and Switzerland (SPEC §5).
    pub const DEFAULT: &'static str = "+30,+31,+32,+33,+34,+351,+352,+353,+354,+356,+357,+358,\
        +359,+36,+370,+371,+372,+385,+386,+39,+40,+41,+420,+421,+423,+43,+45,+46,+47,+48,+49";

    pub fn parse(raw: &str) -> Result<Self, CallingCodeError> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(CallingCode::parse)
            .collect::<Result<HashSet<_>, _>>()
            .map(Self)
    }

    pub fn allows(&self, number: &E164) -> bool {
        CallingCode::of(number).is_some_and(|c| self.0.contains(&c))
    }

    /// The codes, in order: to show the list.
    pub fn codes(&self) -> Vec<CallingCode> {
        let mut codes: Vec<CallingCode> = self.0.iter().copied().collect();
        codes.sort();
        codes
    }
}

impl Default for AllowList {
    fn default() -> Self {
        Self::parse(Self::DEFAULT).expect("the default list holds calling codes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> E164 {
        E164::parse_shape(s).unwrap()
    }

    #[test]
    fn finds_the_code_by_longest_prefix() {
        assert_eq!(
            CallingCode::of(&n("+351912345678")).unwrap().to_string(),
            "+351"
        );
        assert_eq!(
            CallingCode::of(&n("+33612345678")).unwrap().to_string(),
            "+33"
        );
        assert_eq!(
            CallingCode::of(&n("+14155552345")).unwrap().to_string(),
            "+1"
        );
        assert_eq!(
            CallingCode::of(&n("+420601234567")).unwrap().to_string(),
            "+420"
        );
    }

    #[test]
    fn the_default_list_lets_every_eu_code_through_and_no_other() {
        let list = AllowList::default();
        for allowed in [
            "+351912345678", // Portugal: refused by the earlier version
            "+352621123456", // Luxembourg
            "+353851234567", // Ireland
            "+420601234567", // Czechia
            "+421901234567", // Slovakia
            "+385911234567", // Croatia
            "+33612345678",
            "+41791234567",
        ] {
            assert!(list.allows(&n(allowed)), "{allowed}");
        }
        for refused in [
            "+14155552345",
            "+447700900123",
            "+380501234567",
            "+212612345678",
        ] {
            assert!(!list.allows(&n(refused)), "{refused}");
        }
    }

    #[test]
    fn only_real_calling_codes_are_accepted_in_a_list() {
        assert!(AllowList::parse("+33, 351").is_ok());
        assert!(AllowList::parse("+35").is_err());
        assert!(AllowList::parse("+033").is_err());
        assert!(AllowList::parse("FR").is_err());
    }
}

//! What a number is for — a person's mobile or fixed line, or a service number that bills the
//! caller a premium (toll fraud pays out on those) — by the phone-number metadata of its
//! country, as the `phonenumber` crate types it (`phonenumber::Type`).
//!
//! Why not `PhoneNumber::number_type`: it parses the number again and matches each pattern
//! through the crate's one regular-expression cache, an LRU of 100 behind a global mutex (a
//! miss compiles the pattern again). Routing classifies callers on the webhook path, in the
//! engine's single task. Here each country's patterns are compiled once, on first use, into
//! one `RegexSet`, and a number is classified in one pass over its digits, without a lock. The
//! rules are the crate's (`validator::number_type`: premium rate first, … mobile last), with
//! each pattern anchored at both ends as libphonenumber anchors it (the crate only anchors the
//! start); the tests compare both over every example number of the metadata.

use std::collections::HashMap;
use std::sync::OnceLock;

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use super::{CallingCode, E164};

pub use phonenumber::Type as LineType;

/// The types tried before fixed line and mobile, in the crate's order.
const SERVICES: [LineType; 8] = [
    LineType::PremiumRate,
    LineType::TollFree,
    LineType::SharedCost,
    LineType::Voip,
    LineType::PersonalNumber,
    LineType::Pager,
    LineType::Uan,
    LineType::Voicemail,
];

impl E164 {
    /// The number's type by its country's numbering plan; `Unknown` when the plan does not
    /// place it.
    pub fn line_type(&self) -> LineType {
        match self.plan() {
            Some((plan, national)) => plan.line_type(national),
            None => LineType::Unknown,
        }
    }

    /// Whether the number may be remembered as a last caller, dialled, texted, or be a
    /// client's phone: a line a person answers, billed as an ordinary call.
    pub fn is_personal(&self) -> bool {
        match self.plan() {
            // The non-geographic codes (+800 freephone, +808 shared cost, +870 and +881
            // satellite phones, +882 and +883 international networks, +979 premium rate) are
            // no one's everyday line, and satellite calls bill the highest rates of all.
            Some((plan, national)) => plan.geographic && is_personal(plan.line_type(national)),
            None => is_personal(LineType::Unknown),
        }
    }

    /// The numbering plan of the number's calling code, and its national number.
    fn plan(&self) -> Option<(&'static Plan, &str)> {
        let code = CallingCode::of(self)?;
        Some((plan(code.get())?, &self.as_str()[1 + code.digits()..]))
    }
}

/// The allowed set, decided type by type.
pub fn is_personal(line: LineType) -> bool {
    match line {
        LineType::Mobile | LineType::FixedLine | LineType::FixedLineOrMobile => true,
        // France's 09 and their like: home broadband lines and small businesses, billed as
        // fixed lines.
        LineType::Voip => true,
        // A number the plan does not place: a range newer than our metadata, which webhooks
        // let through for that reason (`E164::parse_shape`). The ranges that cost the caller
        // more — premium rate, shared cost — are old and all in the metadata; the API refuses
        // such a number as a client's phone anyway (`E164::parse` checks validity).
        LineType::Unknown => true,
        // Premium rate, shared cost, UAN: the caller pays more, and whoever holds the number
        // is paid — what toll fraud cashes in. Personal numbers (the UK's 070) forward at a
        // price their holder sets, a known fraud route. Toll-free, pager and voicemail access
        // numbers are services, not a person: they take no call-back or text from us.
        LineType::PremiumRate
        | LineType::SharedCost
        | LineType::Uan
        | LineType::PersonalNumber
        | LineType::TollFree
        | LineType::Pager
        | LineType::Voicemail
        | LineType::Emergency
        | LineType::ShortCode
        | LineType::StandardRate
        | LineType::Carrier
        | LineType::NoInternational => false,
    }
}

/// How an error message names a type.
pub fn describe(line: LineType) -> &'static str {
    match line {
        LineType::PremiumRate => "a premium-rate number",
        LineType::SharedCost => "a shared-cost number",
        LineType::Uan => "a universal access (company) number",
        LineType::PersonalNumber => "a personal (forwarding) number",
        LineType::TollFree => "a toll-free number",
        LineType::Pager => "a pager number",
        LineType::Voicemail => "a voicemail access number",
        LineType::Mobile => "a mobile number",
        LineType::FixedLine | LineType::FixedLineOrMobile => "a fixed line",
        LineType::Voip => "a VoIP number",
        _ => "a service number",
    }
}

/// The patterns of one calling code: one region, or several sharing it (+1, +7, +44…).
struct Plan {
    regions: Vec<Region>,
    /// A country's, not a service's (region "001": +800, +881, +979…).
    geographic: bool,
}

struct Region {
    /// The digits a number of this region starts with, when the calling code is shared.
    leading: Option<Regex>,
    /// The general pattern, then the present types' patterns, anchored at both ends.
    set: RegexSet,
    /// Per pattern of `set`: its type (`Unknown` for the general one) and possible lengths.
    kinds: Vec<(LineType, Vec<u16>)>,
    /// Fixed-line and mobile numbers look alike (the crate then says `FixedLineOrMobile`).
    fixed_is_mobile: bool,
}

fn plan(code: u16) -> Option<&'static Plan> {
    static PLANS: OnceLock<HashMap<u16, OnceLock<Option<Plan>>>> = OnceLock::new();
    let plans = PLANS.get_or_init(|| {
        (1..1000)
            .filter(|code| DATABASE.by_code(code).is_some())
            .map(|code| (code, OnceLock::new()))
            .collect()
    });
    plans
        .get(&code)?
        .get_or_init(|| {
            let metas = DATABASE.by_code(&code)?;
            let geographic = metas.iter().all(|m| m.id() != "001");
            // The metadata's patterns are known to compile; one that does not (a future
            // metadata) leaves its country unclassified rather than stopping routing.
            let regions = metas
                .into_iter()
                .map(Region::compile)
                .collect::<Option<Vec<_>>>()?;
            Some(Plan {
                regions,
                geographic,
            })
        })
        .as_ref()
}

impl Plan {
    fn line_type(&self, national: &str) -> LineType {
        if let [only] = self.regions.as_slice() {
            return only.line_type(national);
        }
        // As libphonenumber picks the region among those sharing a calling code: by its
        // leading digits, else the first whose plan places the number.
        for region in &self.regions {
            match &region.leading {
                Some(leading) if leading.is_match(national) => return region.line_type(national),
                Some(_) => {}
                None => {
                    let line = region.line_type(national);
                    if line != LineType::Unknown {
                        return line;
                    }
                }
            }
        }
        LineType::Unknown
    }
}

impl Region {
    fn compile(meta: &Metadata) -> Option<Self> {
        let d = meta.descriptors();
        let mut patterns = vec![anchored(d.general())];
        let mut kinds = vec![(LineType::Unknown, d.general().possible_length().to_vec())];
        for kind in SERVICES
            .into_iter()
            .chain([LineType::FixedLine, LineType::Mobile])
        {
            if let Some(desc) = d.get(kind) {
                patterns.push(anchored(desc));
                kinds.push((kind, desc.possible_length().to_vec()));
            }
        }
        let set = RegexSetBuilder::new(&patterns)
            .ignore_whitespace(true)
            .unicode(false)
            .build()
            .ok()?;
        let leading = match meta.leading_digits() {
            Some(pattern) => Some(
                RegexBuilder::new(&format!("^(?:{})", pattern.as_str()))
                    .ignore_whitespace(true)
                    .unicode(false)
                    .build()
                    .ok()?,
            ),
            None => None,
        };
        fn source(desc: Option<&Descriptor>) -> Option<&str> {
            desc.map(|d| d.national_number().as_str())
        }
        Some(Self {
            leading,
            set,
            kinds,
            fixed_is_mobile: source(d.fixed_line()).is_some()
                && source(d.fixed_line()) == source(d.mobile()),
        })
    }

    fn line_type(&self, national: &str) -> LineType {
        let matched = self.set.matches(national);
        let length = u16::try_from(national.len()).unwrap_or(u16::MAX);
        let hit = |i: usize| {
            let lengths = &self.kinds[i].1;
            matched.matched(i) && (lengths.is_empty() || lengths.contains(&length))
        };
        if !hit(0) {
            return LineType::Unknown;
        }
        // `kinds` is in the order the types are tried: the first service that matches wins.
        let (mut fixed, mut mobile) = (false, false);
        for (i, (kind, _)) in self.kinds.iter().enumerate().skip(1) {
            if !hit(i) {
                continue;
            }
            match kind {
                LineType::FixedLine => fixed = true,
                LineType::Mobile => mobile = true,
                service => return *service,
            }
        }
        match (fixed, mobile) {
            (true, _) if self.fixed_is_mobile || mobile => LineType::FixedLineOrMobile,
            (true, _) => LineType::FixedLine,
            (false, true) => LineType::Mobile,
            (false, false) => LineType::Unknown,
        }
    }
}

fn anchored(desc: &Descriptor) -> String {
    format!("^(?:{})$", desc.national_number().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: &str) -> LineType {
        E164::parse_shape(n).unwrap().line_type()
    }

    #[test]
    fn people_and_services_are_told_apart() {
        for (number, expected) in [
            ("+33612345678", LineType::Mobile),
            ("+33780000001", LineType::Mobile),
            ("+33140000001", LineType::FixedLine),
            ("+33987654321", LineType::Voip),
            // France's 089x and 081x: premium rate; 0884: shared cost; 0806 to 0809: UAN
            // (company numbers); 080x below: toll-free.
            ("+33899123456", LineType::PremiumRate),
            ("+33812345678", LineType::PremiumRate),
            ("+33884012345", LineType::SharedCost),
            ("+33806123456", LineType::Uan),
            ("+33801234567", LineType::TollFree),
            // The UK's 09: premium rate; 070: personal numbers; 055: UAN (corporate).
            ("+449012345678", LineType::PremiumRate),
            ("+447012345678", LineType::PersonalNumber),
            ("+445512345678", LineType::Uan),
            ("+447400123456", LineType::Mobile),
            ("+351912345678", LineType::Mobile),
            // +1 is shared by the US, Canada and the Caribbean: 900 is premium rate in all.
            ("+19002345678", LineType::PremiumRate),
            ("+18002345678", LineType::TollFree),
            // +979 is the international premium-rate code; +800 the international freephone.
            ("+979123456789", LineType::PremiumRate),
            ("+80012345678", LineType::TollFree),
        ] {
            assert_eq!(line(number), expected, "{number}");
        }
        // The shape of a French number, in no range of the plan.
        assert_eq!(line("+33012345678"), LineType::Unknown);
    }

    #[test]
    fn the_allowed_set_is_people() {
        for number in [
            "+33612345678",
            "+33140000001",
            "+33987654321",
            "+447400123456",
        ] {
            assert!(E164::parse_shape(number).unwrap().is_personal(), "{number}");
        }
        for number in [
            "+33899123456",
            "+33812345678",
            "+33884012345",
            "+33806123456",
            "+33801234567",
            "+449012345678",
            "+447012345678",
            "+445512345678",
            "+19002345678",
            "+979123456789",
            "+80012345678",
            // A satellite phone: a mobile, of no country.
            "+881612345678",
        ] {
            assert!(
                !E164::parse_shape(number).unwrap().is_personal(),
                "{number}"
            );
        }
    }

    /// Every example number of the metadata, for every region and type, is typed as the
    /// metadata says (a fixed-line or mobile example may be both), or — where the example
    /// also fits a type tried before — as the `phonenumber` crate types it.
    #[test]
    fn every_example_of_the_metadata_gets_its_type() {
        let mut checked = 0;
        let mut differ = Vec::new();
        let metas = (1..1000).filter_map(|code| DATABASE.by_code(&code));
        for meta in metas.flatten() {
            let d = meta.descriptors();
            for kind in SERVICES
                .into_iter()
                .chain([LineType::FixedLine, LineType::Mobile])
            {
                let Some(example) = d.get(kind).and_then(Descriptor::example) else {
                    continue;
                };
                let raw = format!("+{}{example}", meta.country_code());
                let Ok(number) = E164::parse_shape(&raw) else {
                    continue;
                };
                let ours = number.line_type();
                let as_said = ours == kind
                    || (matches!(kind, LineType::FixedLine | LineType::Mobile)
                        && ours == LineType::FixedLineOrMobile);
                let theirs = phonenumber::parse(None, &raw)
                    .ok()
                    .map(|p| p.number_type(&DATABASE));
                checked += 1;
                if !as_said && theirs != Some(ours) {
                    differ.push(format!(
                        "{} {raw}: {kind:?}, crate {theirs:?}, ours {ours:?}",
                        meta.id()
                    ));
                }
            }
        }
        assert!(checked > 1000, "{checked} examples");
        assert!(
            differ.is_empty(),
            "{} differ:\n{}",
            differ.len(),
            differ.join("\n")
        );
    }
}

//! The pictures of an MMS: the addresses where Twilio keeps what a text carried.
//!
//! A relay hands these addresses to Twilio, which fetches them to send the pictures on: an
//! address that is not Twilio's own would have us relay whatever it points at. So only
//! addresses under Twilio's API (`https://api.twilio.com/2010-04-01/Accounts/…`, or the
//! configured API base in tests) are accepted; the others are refused, never fetched nor
//! relayed.

use std::fmt;

/// Twilio sends at most ten pictures per message, and takes at most ten `MediaUrl`s.
pub const MAX_MEDIA: usize = 10;

/// Where media addresses must lead: the carrier's API base (scheme, host, port, path).
#[derive(Clone, PartialEq, Eq)]
pub struct MediaOrigin(url::Url);

impl MediaOrigin {
    /// Twilio's own API, `https://api.twilio.com`.
    pub fn twilio() -> Self {
        Self::parse("https://api.twilio.com").expect("Twilio's API base is a URL")
    }

    /// An API base such as `TWILIO_API_BASE`; `None` when it is not an http(s) URL.
    pub fn parse(base: &str) -> Option<Self> {
        let url = url::Url::parse(base.trim_end_matches('/')).ok()?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return None;
        }
        Some(Self(url))
    }

    /// The path media addresses start with, e.g. `/2010-04-01/Accounts/`.
    fn prefix(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/",
            self.0.path().trim_end_matches('/')
        )
    }
}

impl Default for MediaOrigin {
    fn default() -> Self {
        Self::twilio()
    }
}

impl fmt::Debug for MediaOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MediaOrigin({})", self.0.as_str().trim_end_matches('/'))
    }
}

/// The address of one picture at Twilio. Its `Debug` hides it: whoever holds the address
/// can see the picture, so it is never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaUrl(Box<str>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a media address of the carrier's API")]
pub struct MediaError;

impl MediaUrl {
    /// A media address under `origin`'s accounts: same scheme, host and port, no user,
    /// query or fragment, and nothing that climbs out of the path (`..`).
    pub fn parse(raw: &str, origin: &MediaOrigin) -> Result<Self, MediaError> {
        let url = url::Url::parse(raw.trim()).map_err(|_| MediaError)?;
        let base = &origin.0;
        let same_place = url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default();
        let clean = url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none();
        // `Url` resolves `..` while parsing: what is left is the path asked for.
        let prefix = origin.prefix();
        let under = url
            .path()
            .strip_prefix(&prefix)
            .is_some_and(|rest| !rest.is_empty());
        if same_place && clean && under {
            Ok(Self(url.as_str().into()))
        } else {
            Err(MediaError)
        }
    }

    /// An address the store wrote, read back (checked when it was first parsed).
    pub fn stored(raw: &str) -> Self {
        Self(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MediaUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MediaUrl(…)")
    }
}

/// What a text carried besides its words.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Media {
    /// The carrier's addresses of its pictures, in order.
    pub urls: Vec<MediaUrl>,
    /// Addresses that were not the carrier's (refused), or beyond `MAX_MEDIA`: the recipient
    /// is told a picture could not be forwarded.
    pub refused: usize,
}

impl Media {
    /// Reads a webhook's `NumMedia` and `MediaUrl0..N` through `field`.
    pub fn from_form<'a>(field: impl Fn(&str) -> Option<&'a str>, origin: &MediaOrigin) -> Self {
        let count = field("NumMedia")
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut media = Self::default();
        // A count larger than Twilio ever sends is read no further than its limit.
        for i in 0..count.min(MAX_MEDIA) {
            match field(&format!("MediaUrl{i}")).map(|raw| MediaUrl::parse(raw, origin)) {
                Some(Ok(url)) => media.urls.push(url),
                _ => media.refused += 1,
            }
        }
        media.refused += count.saturating_sub(MAX_MEDIA);
        media
    }

    pub fn is_empty(&self) -> bool {
        self.urls.is_empty() && self.refused == 0
    }
}

impl fmt::Debug for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Media")
            .field("urls", &self.urls.len())
            .field("refused", &self.refused)
            .finish()
    }
}

/// Whether the carrier sends pictures to `to`: Twilio sends MMS to numbers of the United
/// States and Canada only; elsewhere a picture cannot go on.
pub fn takes_pictures(to: &super::E164) -> bool {
    to.region()
        .is_some_and(|c| matches!(c.as_str(), "US" | "CA"))
}

/// How the store keeps a message's media addresses: one per line (an address has no line
/// break). `None` for none.
pub fn join_media(urls: &[MediaUrl]) -> Option<String> {
    (!urls.is_empty()).then(|| {
        urls.iter()
            .map(MediaUrl::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// The addresses `join_media` wrote.
pub fn split_media(stored: Option<&str>) -> Vec<MediaUrl> {
    stored
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(MediaUrl::stored)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "https://api.twilio.com/2010-04-01/Accounts/AC0123/Messages/MM0123/Media/ME0123";

    #[test]
    fn only_the_carriers_media_addresses_are_accepted() {
        let twilio = MediaOrigin::twilio();
        assert!(MediaUrl::parse(GOOD, &twilio).is_ok());
        for bad in [
            "https://evil.example.com/2010-04-01/Accounts/AC0123/Messages/MM0123/Media/ME0123",
            "http://api.twilio.com/2010-04-01/Accounts/AC0123/Media/ME0123",
            "https://api.twilio.com.evil.example/2010-04-01/Accounts/AC0123/Media/ME0123",
            "https://api.twilio.com:8443/2010-04-01/Accounts/AC0123/Media/ME0123",
            "https://user@api.twilio.com/2010-04-01/Accounts/AC0123/Media/ME0123",
            "https://api.twilio.com/2010-04-01/Accounts/AC0123/Media/ME0123?redirect=x",
            "https://api.twilio.com/2010-04-01/Accounts/../../evil",
            "https://api.twilio.com/2010-04-01/Accounts/",
            "https://api.twilio.com/other",
            "file:///etc/passwd",
            "not a url",
            "",
        ] {
            assert!(MediaUrl::parse(bad, &twilio).is_err(), "{bad}");
        }
        // A test double's base, path included.
        let double = MediaOrigin::parse("http://127.0.0.1:4010/").unwrap();
        assert!(
            MediaUrl::parse(
                "http://127.0.0.1:4010/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
                &double
            )
            .is_ok()
        );
        assert!(MediaUrl::parse(GOOD, &double).is_err());
    }

    #[test]
    fn a_form_gives_its_media_and_counts_the_refused() {
        let twilio = MediaOrigin::twilio();
        let form = [
            ("NumMedia", "3"),
            ("MediaUrl0", GOOD),
            ("MediaUrl1", "https://evil.example.com/x.jpg"),
        ];
        let field = |k: &str| form.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let media = Media::from_form(field, &twilio);
        assert_eq!(media.urls.len(), 1);
        assert_eq!(media.refused, 2, "a bad address and a missing one");
        assert!(!format!("{media:?}").contains("twilio"));
        let none = Media::from_form(|_| None, &twilio);
        assert!(none.is_empty());
        let many = Media::from_form(
            |k| match k {
                "NumMedia" => Some("12"),
                _ => Some(GOOD),
            },
            &twilio,
        );
        assert_eq!((many.urls.len(), many.refused), (10, 2));
    }

    #[test]
    fn pictures_go_to_the_united_states_and_canada_only() {
        let e = |n| super::super::E164::parse(n).unwrap();
        assert!(takes_pictures(&e("+12025550123")));
        assert!(takes_pictures(&e("+14165550123")));
        assert!(!takes_pictures(&e("+33612345678")));
        assert!(!takes_pictures(&e("+447911123456")));
    }

    #[test]
    fn stored_media_reads_back() {
        let urls = vec![
            MediaUrl::stored("https://a/1"),
            MediaUrl::stored("https://a/2"),
        ];
        let joined = join_media(&urls);
        assert_eq!(split_media(joined.as_deref()), urls);
        assert_eq!(join_media(&[]), None);
        assert!(split_media(None).is_empty());
    }
}

//! Who is calling, for the per-address limits and the logs: the peer's address, or behind a
//! reverse proxy we trust (`PROXYCALL_TRUST_FORWARDED_FOR`) the address that proxy appended
//! last to `X-Forwarded-For`. What came before that entry was written by the caller and could
//! be anything.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderMap;

use super::AppState;

/// The caller's address: the peer, or with `PROXYCALL_TRUST_FORWARDED_FOR` the last
/// `X-Forwarded-For` entry (the peer when there is none that parses).
pub fn client_address(state: &AppState, req: &Request) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if !state.settings.trust_forwarded_for {
        return peer;
    }
    forwarded_for(req.headers()).unwrap_or(peer)
}

/// The last entry of `X-Forwarded-For`, across every line of the header: a proxy may append
/// a line of its own rather than extend the caller's. Only the last line is read: the lines
/// before it may all be the caller's, so a last line that does not parse gives nothing.
pub fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last_line = headers.get_all("x-forwarded-for").iter().next_back()?;
    let last = last_line
        .to_str()
        .ok()?
        .rsplit(',')
        .map(str::trim)
        .find(|e| !e.is_empty())?;
    entry(last)
}

/// One entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]` or
/// `[2001:db8::1]:443`, perhaps quoted.
fn entry(text: &str) -> Option<IpAddr> {
    let text = text.trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Some(address.ip());
    }
    text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// The key limits count under: an IPv4 address as is; an IPv6 address by its /64, the block
/// one subscriber gets (one host can use any address of it).
pub fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
        }
        map
    }

    #[test]
    fn the_last_entry_of_the_last_line_is_the_caller() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        for (lines, expected) in [
            (&["1.2.3.4"][..], ip("1.2.3.4")),
            (&["6.6.6.6, 1.2.3.4"], ip("1.2.3.4")),
            (&["6.6.6.6,1.2.3.4"], ip("1.2.3.4")),
            // A caller's own line first, the proxy's appended as a line of its own.
            (&["6.6.6.6", "1.2.3.4"], ip("1.2.3.4")),
            (&["6.6.6.6, 7.7.7.7", "5.5.5.5, 1.2.3.4"], ip("1.2.3.4")),
            (&["1.2.3.4:5678"], ip("1.2.3.4")),
            (&["6.6.6.6, 1.2.3.4:5678"], ip("1.2.3.4")),
            (&["2001:db8::1"], ip("2001:db8::1")),
            (&["[2001:db8::1]"], ip("2001:db8::1")),
            (&["[2001:db8::1]:443"], ip("2001:db8::1")),
            (&["1.2.3.4, \"[2001:db8::1]:443\""], ip("2001:db8::1")),
            (&["1.2.3.4, "], ip("1.2.3.4")),
            (&["1.2.3.4", ""], None),
            (&["1.2.3.4", "  "], None),
            // What does not parse is no address: the peer is used instead.
            (&["1.2.3.4, unknown"], None),
            (&["1.2.3.4, 999.1.1.1"], None),
            (&["[2001:db8::1"], None),
            (&["not-an-address"], None),
            (&[], None),
        ] {
            assert_eq!(forwarded_for(&headers(lines)), expected, "{lines:?}");
        }
    }

    #[test]
    fn ipv6_callers_are_counted_by_their_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(bucket(ip("1.2.3.4")), ip("1.2.3.4"));
        assert_eq!(bucket(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            bucket(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            bucket(ip("2001:db8:1:2::7"))
        );
        assert_ne!(bucket(ip("2001:db8:1:2::1")), bucket(ip("2001:db8:1:3::1")));
        assert_eq!(bucket(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
    }
}

//! Where the client thinks this server is: the scheme and host that
//! absolute URLs (`Location`, Bundle links, `fullUrl`, the
//! CapabilityStatement) are built from.
//!
//! `Forwarded` and `X-Forwarded-Host`/`-Proto` are believed only from a
//! `serve --trusted-proxy` (issue #16 item 19): from anyone else they are
//! ignored, or any client could make the server hand out
//! `javascript://evil.example/…` links. Even a trusted proxy's values are
//! checked (scheme `http`/`https`, host a plain authority); a value that
//! fails falls back to what the connection itself says.

use std::net::IpAddr;
use std::str::FromStr;

use actix_web::{web, HttpRequest};

/// An IP address or a CIDR block (`10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    addr: IpAddr,
    prefix: u8,
}

impl IpBlock {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// Whether the first `bits` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[whole] & mask == b[whole] & mask
    }
}

impl FromStr for IpBlock {
    type Err = String;

    /// Parsed by hand: two lines over std's `IpAddr` parser, where a CIDR
    /// crate would add a dependency for one `contains`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0 to {max}"))?,
        };
        Ok(IpBlock { addr, prefix })
    }
}

/// `serve --trusted-proxy`: the peers whose forwarded headers are read.
/// Registered as app data; absent means nobody is trusted.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpBlock>);

impl TrustedProxies {
    pub fn trusts(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|ip| self.0.iter().any(|b| b.contains(ip)))
    }
}

/// `http(s)://host/fhir`, as the client addressed us.
pub fn base_url(req: &HttpRequest) -> String {
    let (scheme, host) = scheme_and_host(req);
    format!("{scheme}://{host}{}", crate::route::BASE)
}

/// The host (and port) the client addressed, forwarded only from a
/// trusted proxy, always a valid authority.
pub fn host(req: &HttpRequest) -> String {
    scheme_and_host(req).1
}

/// The one place that decides scheme and host: the connection's own (TLS
/// or not, the `Host` header), or a trusted proxy's forwarded values when
/// they are valid.
fn scheme_and_host(req: &HttpRequest) -> (String, String) {
    let direct_scheme = if req.app_config().secure() {
        "https"
    } else {
        "http"
    };
    let direct_host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .filter(|h| valid_authority(h))
        .map(str::to_owned)
        .unwrap_or_else(|| req.app_config().local_addr().to_string());
    let trusted = req
        .app_data::<web::Data<TrustedProxies>>()
        .is_some_and(|t| t.trusts(req.peer_addr().map(|a| a.ip())));
    if !trusted {
        return (direct_scheme.to_owned(), direct_host);
    }
    // actix reads `Forwarded`, then `X-Forwarded-Proto`/`-Host`, then the
    // connection.
    let info = req.connection_info();
    let scheme = match info.scheme().to_ascii_lowercase().as_str() {
        s @ ("http" | "https") => s.to_owned(),
        _ => direct_scheme.to_owned(),
    };
    let host = Some(info.host())
        .filter(|h| valid_authority(h))
        .map_or(direct_host, str::to_owned);
    (scheme, host)
}

/// The client's address: the TCP peer, or, when the peer is a trusted
/// proxy, the address its `Forwarded: for=` (else `X-Forwarded-For`)
/// names. The list is read from the right (each proxy appends the peer it
/// saw), skipping addresses that are trusted proxies themselves: entries
/// further left were written by the client and prove nothing. An entry
/// that is not an IP address (`unknown`, an obfuscated name) stops the
/// walk at the last address known.
pub fn client_addr(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    let Some(trusted) = req
        .app_data::<web::Data<TrustedProxies>>()
        .filter(|t| t.trusts(Some(peer)))
    else {
        return Some(peer);
    };
    let mut client = peer;
    for hop in forwarded_for(req).iter().rev() {
        match hop {
            Some(ip) => {
                client = *ip;
                if !trusted.trusts(Some(*ip)) {
                    break;
                }
            }
            None => break,
        }
    }
    Some(client)
}

/// The addresses a request's proxies name, client first: every `for=` of
/// every `Forwarded` element (RFC 7239), or else `X-Forwarded-For`.
fn forwarded_for(req: &HttpRequest) -> Vec<Option<IpAddr>> {
    let values = |name: &str| -> Vec<String> {
        req.headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .collect()
    };
    let forwarded: Vec<Option<IpAddr>> = values("forwarded")
        .iter()
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                k.eq_ignore_ascii_case("for").then(|| node_ip(v))
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    values("x-forwarded-for")
        .iter()
        .map(|v| node_ip(v))
        .collect()
}

/// An RFC 7239 node (`192.0.2.1`, `"192.0.2.1:80"`, `"[2001:db8::1]:80"`)
/// as an IP address.
fn node_ip(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.parse().ok().or_else(|| {
        let (ip, port) = node.rsplit_once(':')?;
        port.parse::<u16>().ok()?;
        ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
    })
}

/// `host[:port]` with a DNS name, IPv4 address or bracketed IPv6 address:
/// no user info, path, scheme or anything else a link could be bent with.
pub fn valid_authority(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(p) => ("ok", Some(p)),
                None => return false,
            },
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok() && !p.is_empty());
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_contain_their_addresses() {
        let b: IpBlock = "10.1.0.0/16".parse().unwrap();
        assert!(b.contains("10.1.2.3".parse().unwrap()));
        assert!(!b.contains("10.2.0.1".parse().unwrap()));
        let one: IpBlock = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(one.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6: IpBlock = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpBlock>().is_err());
        assert!("example.org".parse::<IpBlock>().is_err());
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        use actix_web::test::TestRequest;
        let trusted = web::Data::new(TrustedProxies(vec![
            "127.0.0.1".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ]));
        let client = |peer: &str, headers: &[(&str, &str)]| {
            let mut r = TestRequest::get()
                .peer_addr(format!("{peer}:5000").parse().unwrap())
                .app_data(trusted.clone());
            for (k, v) in headers {
                r = r.insert_header((*k, *v));
            }
            client_addr(&r.to_http_request()).map(|a| a.to_string())
        };
        let xff = |v| [("x-forwarded-for", v)];
        assert_eq!(
            client("192.0.2.9", &xff("198.51.100.1")).as_deref(),
            Some("192.0.2.9")
        );
        assert_eq!(
            client("127.0.0.1", &xff("198.51.100.1")).as_deref(),
            Some("198.51.100.1")
        );
        assert_eq!(
            client("127.0.0.1", &xff("6.6.6.6, 198.51.100.1, 10.1.1.1")).as_deref(),
            Some("198.51.100.1")
        );
        assert_eq!(
            client("127.0.0.1", &xff("unknown")).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            client(
                "127.0.0.1",
                &[("forwarded", r#"for="[2001:db8::1]:4711";proto=https"#)]
            )
            .as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            client(
                "127.0.0.1",
                &[("forwarded", "for=192.0.2.60, for=10.2.2.2")]
            )
            .as_deref(),
            Some("192.0.2.60")
        );
        assert_eq!(client("127.0.0.1", &[]).as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn only_plain_authorities_are_valid() {
        for ok in [
            "example.org",
            "example.org:8443",
            "127.0.0.1:80",
            "[::1]:8080",
            "[::1]",
            "a-b.c",
        ] {
            assert!(valid_authority(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example/x",
            "javascript://evil",
            "user@host",
            "host:port",
            "host:99999",
            "a..b",
            "[::1",
            "[zz]:1",
            "host name",
            "host:",
        ] {
            assert!(!valid_authority(bad), "{bad}");
        }
    }
}

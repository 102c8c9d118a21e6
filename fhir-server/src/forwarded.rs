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

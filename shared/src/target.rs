//! Which addresses a timer may call. A service that calls any URL a client names must never be
//! turned against the network it runs in, so loopback, private, link-local (the cloud metadata
//! service at 169.254.169.254), unspecified, broadcast, multicast and other special-purpose
//! addresses are refused, when a URL names them and when its host name resolves to them. The
//! check runs at create time and again at fire time, where the call connects to exactly the
//! addresses that were checked. Operators may allow listed private networks (`PRIVATE_TARGETS`),
//! for local development only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

/// How long a host name lookup may take at create time.
const CREATE_LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// An address a timer may not call, and what kind of address it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ip} is {} {kind} address", article(.kind))]
pub struct Refused {
    pub ip: IpAddr,
    pub kind: &'static str,
}

/// Why a target cannot be called.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The URL names, or its host resolves to, an address that is not allowed. For a host
    /// name, the message gives the kind of address, not the address: it must not tell clients
    /// what internal names resolve to.
    #[error("{}", forbidden_message(host, refused))]
    Forbidden { host: String, refused: Refused },
    /// The host name could not be resolved.
    #[error("{host} could not be resolved: {source}")]
    Unresolved {
        host: String,
        #[source]
        source: std::io::Error,
    },
}

fn forbidden_message(host: &str, refused: &Refused) -> String {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if literal.parse::<IpAddr>().is_ok() {
        refused.to_string()
    } else {
        format!(
            "{host} resolves to {} {} address",
            article(refused.kind),
            refused.kind
        )
    }
}

/// "a" or "an", whichever goes before `kind` ("an unspecified", "an IPv4-mapped").
fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u', 'I']) {
        "an"
    } else {
        "a"
    }
}

/// The addresses timers may call: every public address, plus the listed private networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    allowed: Vec<IpNet>,
}

impl TargetPolicy {
    /// Public addresses only: what production runs with.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Public addresses and the given networks.
    pub fn allowing(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// Reads a list of networks (`127.0.0.1/32`) or addresses (`::1`), separated by commas or
    /// spaces; an empty list allows no private address.
    pub fn parse(list: &str) -> Result<Self, String> {
        let allowed = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("'{item}' is not an IP network such as 127.0.0.1/32"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { allowed })
    }

    /// Whether `ip` may be called.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        match special_purpose(ip) {
            Some(kind) if !self.allowed.iter().any(|net| net.contains(&ip)) => {
                Err(Refused { ip, kind })
            }
            _ => Ok(()),
        }
    }

    /// The addresses to connect to for `host`: the address itself for an IP literal, else
    /// every address the name resolves to, all of which must be allowed (a name with one
    /// private address among public ones is refused: a client could pick either).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((lookup_name(host), port))
                .await
                .map_err(|source| TargetError::Unresolved {
                    host: host.to_owned(),
                    source,
                })?
                .collect(),
        };
        for addr in &addrs {
            self.check(addr.ip())
                .map_err(|refused| TargetError::Forbidden {
                    host: host.to_owned(),
                    refused,
                })?;
        }
        Ok(addrs)
    }

    /// The create-time check of a target URL. A host name that does not resolve now is let
    /// through (its DNS may not be set up yet); the fire-time check still guards the call.
    pub async fn check_url(&self, url: &url::Url) -> Result<(), TargetError> {
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Ok(());
        };
        match tokio::time::timeout(CREATE_LOOKUP_TIMEOUT, self.resolve(host, port)).await {
            Ok(Err(refused @ TargetError::Forbidden { .. })) => Err(refused),
            Ok(Err(TargetError::Unresolved { host, source })) => {
                tracing::info!(%host, error = %source, "target host does not resolve yet");
                Ok(())
            }
            Ok(Ok(_)) | Err(_) => Ok(()),
        }
    }
}

/// The name to look up for `host`: `localhost`, `localhost.` and every `*.localhost` name are
/// loopback (RFC 6761), whatever a resolver would say of them.
fn lookup_name(host: &str) -> &str {
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.eq_ignore_ascii_case("localhost") || name.to_ascii_lowercase().ends_with(".localhost") {
        "localhost"
    } else {
        host
    }
}

/// What kind of special-purpose address `ip` is, if it is one a timer may not call.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_purpose_v4(v4),
        IpAddr::V6(v6) => special_purpose_v6(v6),
    }
}

fn special_purpose_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "unspecified (0.0.0.0/8)",
        (127, ..) => "loopback",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "private (RFC 1918)",
        (100, 64..=127, _) => "shared (carrier-grade NAT)",
        (169, 254, _) => "link-local",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, ..) => "multicast",
        _ if ip.is_broadcast() => "broadcast",
        (240..=255, ..) => "reserved",
        _ => return None,
    })
}

fn special_purpose_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return special_purpose_v4(v4).map(|_| "IPv4-mapped special-purpose");
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    Some(match s {
        [0, 0, 0, 0, 0, 0, ..] => "IPv4-compatible (deprecated)",
        // IPv4-translated (::ffff:0:0/96, RFC 2765) reaches the IPv4 address it embeds.
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => {
            special_purpose_v4(embedded(hi, lo)).map(|_| "IPv4-translated special-purpose")?
        }
        // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they embed.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            special_purpose_v4(embedded(hi, lo)).map(|_| "NAT64 of a special-purpose")?
        }
        [0x64, 0xff9b, 1, ..] => "local-use NAT64",
        [0x2002, hi, lo, ..] => {
            special_purpose_v4(embedded(hi, lo)).map(|_| "6to4 of a special-purpose")?
        }
        [0x2001, 0, ..] => "Teredo",
        [0x2001, 0xdb8, ..] => "documentation",
        [0x100, 0, 0, 0, ..] => "discard-only",
        _ if ip.is_unique_local() => "unique-local",
        _ if ip.is_unicast_link_local() => "link-local",
        [first, ..] if first & 0xffc0 == 0xfec0 => "site-local (deprecated)",
        _ if ip.is_multicast() => "multicast",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(ip: &str) -> Option<&'static str> {
        special_purpose(ip.parse().unwrap())
    }

    #[test]
    fn every_special_purpose_ipv4_range_is_refused() {
        for (ip, expected) in [
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.1.2.3", "private (RFC 1918)"),
            ("172.16.0.1", "private (RFC 1918)"),
            ("172.31.255.255", "private (RFC 1918)"),
            ("192.168.1.1", "private (RFC 1918)"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified (0.0.0.0/8)"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("192.0.2.1", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("240.0.0.1", "reserved"),
        ] {
            assert_eq!(kind(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn public_addresses_next_to_special_ranges_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.167.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
        ] {
            assert_eq!(kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_special_addresses_are_refused() {
        for ip in [
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "::127.0.0.1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2001:db8::1",
            "2001::1",
        ] {
            assert!(kind(ip).is_some(), "{ip} should be refused");
        }
        assert_eq!(kind("::ffff:8.8.8.8"), None);
        assert_eq!(kind("64:ff9b::808:808"), None);
        assert_eq!(kind("2002:808:808::1"), None);
    }

    #[test]
    fn listed_networks_are_allowed_and_nothing_else() {
        let policy = TargetPolicy::parse("127.0.0.1/32, ::1").unwrap();
        assert!(policy.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(policy.check("::1".parse().unwrap()).is_ok());
        assert_eq!(
            policy.check("127.0.0.2".parse().unwrap()),
            Err(Refused {
                ip: "127.0.0.2".parse().unwrap(),
                kind: "loopback"
            })
        );
        assert!(TargetPolicy::public_only()
            .check("127.0.0.1".parse().unwrap())
            .is_err());
        let messages = ["0.0.0.0", "::ffff:10.0.0.1", "10.0.0.1"]
            .map(|ip| policy.check(ip.parse().unwrap()).unwrap_err().to_string());
        assert_eq!(
            messages,
            [
                "0.0.0.0 is an unspecified (0.0.0.0/8) address",
                "::ffff:10.0.0.1 is an IPv4-mapped special-purpose address",
                "10.0.0.1 is a private (RFC 1918) address",
            ]
        );
        assert!(TargetPolicy::parse("").unwrap() == TargetPolicy::public_only());
        assert!(TargetPolicy::parse("localhost").is_err());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        let policy = TargetPolicy::public_only();
        let refused = policy.resolve("localhost", 80).await.unwrap_err();
        assert!(
            matches!(&refused, TargetError::Forbidden { refused, .. } if refused.kind == "loopback"),
            "{refused}"
        );
        assert_eq!(
            refused.to_string(),
            "localhost resolves to a loopback address",
            "the address a name resolves to is not shown"
        );
        let allowed = TargetPolicy::parse("127.0.0.0/8,::1/128").unwrap();
        let addrs = allowed.resolve("localhost", 80).await.unwrap();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()));
    }
}

//! The SSRF guard: feeds are untrusted input, and a feed item that points at
//! `http://169.254.169.254/` or a hostname resolving to 127.0.0.1 must not
//! make the worker probe its own network.
//!
//! The check runs on resolved addresses inside the DNS resolver the HTTP
//! client connects with, so a name that resolves differently on a second
//! lookup (DNS rebinding) cannot get round it; IP literals, which skip the
//! resolver, are checked before each request and each redirect.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether an address is reachable on the public internet (not loopback,
/// private, link-local, CGNAT, multicast, documentation or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link-local
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || (seg[0] == 0x0064 && seg[1] == 0xff9b)) // NAT64 to private v4 is possible
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240) // reserved
}

/// Which addresses requests may go to: public ones always; others only when
/// private networks are allowed, and then only inside `networks` if any are
/// listed (`fetch.allow_private_networks`, `fetch.private_networks`).
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    pub allow_private: bool,
    pub networks: Vec<ipnet::IpNet>,
}

impl AddressPolicy {
    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip)
            || (self.allow_private
                && (self.networks.is_empty() || self.networks.iter().any(|n| n.contains(&ip))))
    }

    fn names_allowed(&self) -> bool {
        self.allow_private && self.networks.is_empty()
    }
}

/// Why the guard refused a request. It travels inside reqwest's error (the
/// resolver's and the redirect policy's errors are wrapped by reqwest and
/// hyper), where [`Refusal::find_in`] finds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("scheme `{0}` is not http or https")]
    Scheme(String),
    #[error("URL has no host")]
    NoHost,
    #[error("host `{0}` is a loopback name")]
    LoopbackName(String),
    #[error("address {0} is not public")]
    Address(IpAddr),
    #[error(
        "`{host}` resolves to {address}, not a public address (set fetch.allow_private_networks to allow)"
    )]
    Resolves { host: String, address: String },
    #[error("redirect target {0}")]
    Redirect(Box<Refusal>),
}

impl Refusal {
    /// The refusal in `error` or anywhere in its chain of sources.
    pub fn find_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refusal> {
        std::iter::successors(Some(error), |e| e.source()).find_map(|e| e.downcast_ref())
    }
}

/// Checks a URL whose host is an IP literal; names are checked at resolution.
pub fn check_url(url: &url::Url, policy: &AddressPolicy) -> Result<(), Refusal> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::Scheme(url.scheme().to_string()));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(name)) => {
            if is_loopback_name(name) && !policy.names_allowed() {
                return Err(Refusal::LoopbackName(name.to_string()));
            }
            return Ok(());
        }
        None => return Err(Refusal::NoHost),
    };
    if policy.permits(ip) {
        Ok(())
    } else {
        Err(Refusal::Address(ip))
    }
}

/// `localhost` or a name under it (any case, with or without the root dot).
fn is_loopback_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// DNS resolver that drops the addresses the policy does not permit.
pub struct GuardedResolver {
    pub policy: std::sync::Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = std::sync::Arc::clone(&self.policy);
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = if is_loopback_name(&host) {
                // RFC 6761 §6.3: `localhost` and the names under it are the
                // loopback, never asked of DNS (where they may not resolve,
                // or resolve elsewhere). The policy below still decides.
                vec![
                    SocketAddr::from(([127, 0, 0, 1], 0)),
                    SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
                ]
            } else {
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect()
            };
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| policy.permits(addr.ip()))
                .collect();
            if allowed.is_empty() {
                let address = resolved
                    .first()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_else(|| "no address".into());
                return Err(Refusal::Resolves { host, address }.into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for blocked in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(blocked.parse().unwrap()), "{blocked}");
        }
        for public in ["8.8.8.8", "151.101.0.81", "2a04:4e42::81"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    fn policy(allow_private: bool, networks: &[&str]) -> AddressPolicy {
        AddressPolicy {
            allow_private,
            networks: networks.iter().map(|n| n.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn checks_literal_urls() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        let closed = policy(false, &[]);
        let open = policy(true, &[]);
        assert!(check_url(&url("http://127.0.0.1:8080/feed"), &closed).is_err());
        assert!(check_url(&url("http://[::1]/"), &closed).is_err());
        assert!(check_url(&url("http://localhost/"), &closed).is_err());
        assert!(check_url(&url("http://127.0.0.1:8080/feed"), &open).is_ok());
        assert!(check_url(&url("https://feeds.bbci.co.uk/news/rss.xml"), &closed).is_ok());
        assert!(check_url(&url("file:///etc/passwd"), &open).is_err());
    }

    #[test]
    fn an_allow_list_narrows_the_private_networks() {
        let narrowed = policy(true, &["10.20.0.0/16"]);
        assert!(narrowed.permits("10.20.3.4".parse().unwrap()));
        assert!(!narrowed.permits("10.21.0.1".parse().unwrap()));
        assert!(!narrowed.permits("127.0.0.1".parse().unwrap()));
        assert!(narrowed.permits("8.8.8.8".parse().unwrap()));
        // Listing networks without allowing private ones opens nothing.
        assert!(!policy(false, &["10.20.0.0/16"]).permits("10.20.3.4".parse().unwrap()));
    }

    #[tokio::test]
    async fn resolver_blocks_names_that_resolve_to_loopback() {
        let guarded = GuardedResolver {
            policy: std::sync::Arc::new(policy(false, &[])),
        };
        let name: Name = "localhost".parse().unwrap();
        let error = guarded.resolve(name).await.err().expect("refused");
        assert!(
            matches!(Refusal::find_in(&*error), Some(Refusal::Resolves { host, .. }) if host == "localhost"),
            "{error}"
        );
        let open = GuardedResolver {
            policy: std::sync::Arc::new(policy(true, &[])),
        };
        let name: Name = "localhost".parse().unwrap();
        assert!(open.resolve(name).await.is_ok());
        let narrowed = GuardedResolver {
            policy: std::sync::Arc::new(policy(true, &["10.0.0.0/8"])),
        };
        let name: Name = "localhost".parse().unwrap();
        assert!(narrowed.resolve(name).await.is_err());
    }

    #[tokio::test]
    async fn names_under_localhost_are_the_loopback_without_dns() {
        let open = GuardedResolver {
            policy: std::sync::Arc::new(policy(true, &[])),
        };
        let name: Name = "a.farm.LOCALHOST".parse().unwrap();
        let addrs: Vec<SocketAddr> = open.resolve(name).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
        assert!(addrs.contains(&SocketAddr::from(([127, 0, 0, 1], 0))));
        let closed = GuardedResolver {
            policy: std::sync::Arc::new(policy(false, &[])),
        };
        let name: Name = "a.farm.localhost".parse().unwrap();
        assert!(closed.resolve(name).await.is_err());
        let farm = url::Url::parse("http://a.farm.localhost/").unwrap();
        assert!(check_url(&farm, &policy(false, &[])).is_err());
        // Only names under localhost: not ones that merely end with it.
        assert!(!is_loopback_name("notlocalhost"));
        assert!(is_loopback_name("localhost."));
    }
}

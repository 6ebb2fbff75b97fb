//! Host groups: the hosts that share one politeness budget (requests in
//! flight, spacing, `Retry-After` and block pauses). By default a host's
//! group is its registrable domain from the Public Suffix List (so
//! `feeds.bbci.co.uk` and `www.bbc.co.uk` are two services, `a.example.com`
//! and `b.example.com` one); `fetch.host_groups` puts named hosts together
//! across domains (`feeds.feedburner.com` with `feedproxy.google.com`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

/// A host name as written in `fetch.host_groups`: lower-cased, without a
/// trailing dot, and nothing but a host (no scheme, port or path).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostName(String);

impl HostName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HostName {
    type Error = String;

    fn try_from(text: String) -> Result<HostName, String> {
        let host = normalize(&text);
        let plain = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            && !host.split('.').any(str::is_empty);
        if !plain || url::Host::parse(&host).is_err() {
            return Err(format!(
                "`{text}` is not a host name like \"feeds.example.com\" (no scheme, port or path)"
            ));
        }
        Ok(HostName(host))
    }
}

impl From<HostName> for String {
    fn from(host: HostName) -> String {
        host.0
    }
}

/// The politeness budget a host falls in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostGroup {
    /// A group named in `fetch.host_groups`.
    Configured(String),
    /// The host's registrable domain (Public Suffix List).
    Domain(String),
    /// A host with no registrable domain (an IP address, `localhost`, a
    /// public suffix itself): a group of its own.
    Host(String),
}

impl HostGroup {
    pub fn name(&self) -> &str {
        match self {
            HostGroup::Configured(name) | HostGroup::Domain(name) | HostGroup::Host(name) => name,
        }
    }

    /// Why the host is in this group, as `feeds check` prints it.
    pub fn source(&self) -> &'static str {
        match self {
            HostGroup::Configured(_) => "fetch.host_groups",
            HostGroup::Domain(_) => "registrable domain",
            HostGroup::Host(_) => "host",
        }
    }
}

impl fmt::Display for HostGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.source())
    }
}

/// Maps hosts to their groups.
#[derive(Debug, Clone, Default)]
pub struct HostGroups {
    configured: HashMap<String, String>,
}

impl HostGroups {
    /// From `fetch.host_groups` (group name → its hosts), validated already.
    pub fn new(groups: &BTreeMap<String, Vec<HostName>>) -> HostGroups {
        let configured = groups
            .iter()
            .flat_map(|(name, hosts)| hosts.iter().map(|h| (h.0.clone(), name.clone())))
            .collect();
        HostGroups { configured }
    }

    /// The group of `host` (any case, with or without a trailing dot).
    pub fn group_of(&self, host: &str) -> HostGroup {
        let host = normalize(host);
        if let Some(name) = self.configured.get(&host) {
            return HostGroup::Configured(name.clone());
        }
        // An IP literal has no domain; `url` keeps IPv6 in brackets.
        if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
            return HostGroup::Host(host);
        }
        match psl::domain_str(&host) {
            Some(domain) => HostGroup::Domain(domain.to_string()),
            None => HostGroup::Host(host),
        }
    }

    /// The group a `fetch.hosts` key names: a configured group by its name,
    /// else the group of the host it is.
    pub fn group_named(&self, key: &str) -> HostGroup {
        if self.configured.values().any(|name| name == key) {
            HostGroup::Configured(key.to_string())
        } else {
            self.group_of(key)
        }
    }
}

fn normalize(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(text: &str) -> HostName {
        HostName::try_from(text.to_string()).unwrap()
    }

    fn groups() -> HostGroups {
        let mut config = BTreeMap::new();
        config.insert(
            "feedburner".to_string(),
            vec![host("feeds.feedburner.com"), host("FeedProxy.Google.com")],
        );
        HostGroups::new(&config)
    }

    #[test]
    fn default_group_is_the_registrable_domain() {
        let groups = HostGroups::default();
        let domain = |d: &str| HostGroup::Domain(d.to_string());
        assert_eq!(groups.group_of("a.example.com"), domain("example.com"));
        assert_eq!(groups.group_of("B.Example.COM."), domain("example.com"));
        assert_eq!(groups.group_of("example.com"), domain("example.com"));
        // Multi-label public suffixes: two services under co.uk.
        assert_eq!(groups.group_of("feeds.bbci.co.uk"), domain("bbci.co.uk"));
        assert_eq!(groups.group_of("www.bbc.co.uk"), domain("bbc.co.uk"));
        // Private suffixes of the list: each blog is its own service.
        assert_eq!(
            groups.group_of("alice.github.io"),
            domain("alice.github.io")
        );
        assert_eq!(groups.group_of("bob.github.io"), domain("bob.github.io"));
        // Not on the list: the last label is the suffix (the list's "*").
        assert_eq!(
            groups.group_of("a.farm.localhost"),
            domain("farm.localhost")
        );
    }

    #[test]
    fn hosts_without_a_domain_are_their_own_group() {
        let groups = HostGroups::default();
        let own = |h: &str| HostGroup::Host(h.to_string());
        assert_eq!(groups.group_of("127.0.0.1"), own("127.0.0.1"));
        assert_eq!(groups.group_of("[::1]"), own("[::1]"));
        assert_eq!(groups.group_of("localhost"), own("localhost"));
        assert_eq!(groups.group_of("co.uk"), own("co.uk"));
    }

    #[test]
    fn configured_groups_win() {
        let groups = groups();
        let feedburner = HostGroup::Configured("feedburner".into());
        assert_eq!(groups.group_of("feeds.feedburner.com"), feedburner);
        assert_eq!(groups.group_of("feedproxy.google.com"), feedburner);
        // Other hosts of those domains keep their domain's group.
        assert_eq!(
            groups.group_of("news.google.com"),
            HostGroup::Domain("google.com".into())
        );
        assert_eq!(groups.group_named("feedburner"), feedburner);
        assert_eq!(groups.group_named("feedproxy.google.com"), feedburner);
        assert_eq!(
            groups.group_named("www.example.com"),
            HostGroup::Domain("example.com".into())
        );
        // A configured name and a domain of the same text are two groups.
        assert_ne!(
            HostGroup::Configured("example.com".into()),
            HostGroup::Domain("example.com".into())
        );
    }

    #[test]
    fn host_names_are_plain_hosts() {
        assert_eq!(host(" Feeds.Example.com. ").as_str(), "feeds.example.com");
        assert_eq!(host("127.0.0.1").as_str(), "127.0.0.1");
        for bad in [
            "",
            "https://feeds.example.com",
            "feeds.example.com:8080",
            "feeds.example.com/rss",
            "a..example.com",
            "a b.example.com",
        ] {
            assert!(HostName::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }
}

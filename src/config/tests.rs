//! Config parsing and validation: defaults, errors that name the key, masking.

use std::collections::HashSet;
use std::time::Duration;

use super::*;

const MINIMAL: &str = r#"
[broker]
url = "amqp://guest:guest@127.0.0.1:5672/%2f"
[[feeds]]
id = "bbc-world"
url = "https://feeds.bbci.co.uk/news/world/rss.xml"
interval = "5m"
"#;

fn key_of(text: &str) -> String {
    match Config::from_toml(text, None) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected an invalid-config error, got {other:?}"),
    }
}

#[test]
fn minimal_config_gets_defaults() {
    let config = Config::from_toml(MINIMAL, None).unwrap();
    assert_eq!(config.broker.exchange, "feedwire.articles");
    assert_eq!(config.fetch.per_host_concurrency, 2);
    assert_eq!(config.fetch.per_host_interval, Duration::from_millis(250));
    assert_eq!(config.fetch.blocked_pause, Duration::from_secs(600));
    assert_eq!(config.fetch.rate_limit_pause, Duration::from_secs(60));
    assert!(config.fetch.host_groups.is_empty());
    assert_eq!(config.feeds[0].interval, Some(Duration::from_secs(300)));
    assert_eq!(
        config
            .broker
            .routing_key_for("bbc-world", Some(&config.feeds[0])),
        "article.bbc-world"
    );
    assert!(!config.fetch.allow_private_networks);
}

#[test]
fn unknown_key_is_named() {
    let text = MINIMAL.replace("[broker]", "[broker]\nexchnage = \"x\"");
    assert_eq!(key_of(&text), "broker.exchnage");
    let text = format!("{MINIMAL}\n[fetch]\nper_host_concurency = 3\n");
    assert_eq!(key_of(&text), "fetch.per_host_concurency");
}

#[test]
fn bad_values_are_named() {
    let text = format!("{MINIMAL}\n[fetch]\nper_host_interval = \"soon\"\n");
    assert_eq!(key_of(&text), "fetch.per_host_interval");
    let text = format!("{MINIMAL}\n[fetch]\nper_host_concurrency = 0\n");
    assert_eq!(key_of(&text), "fetch.per_host_concurrency");
    let text = format!("{MINIMAL}\n[fetch]\nper_host_concurrency = \"two\"\n");
    assert_eq!(key_of(&text), "fetch.per_host_concurrency");
    let text = MINIMAL.replace("https://feeds", "ftp://feeds");
    assert_eq!(key_of(&text), "feeds[0].url");
    let text = format!("{MINIMAL}\n[[feeds]]\nid = \"bbc-world\"\nurl = \"https://a.example/\"\n");
    assert_eq!(key_of(&text), "feeds[1].id");
    let text = MINIMAL.replace("amqp://", "http://");
    assert_eq!(key_of(&text), "broker.url");
}

#[test]
fn private_networks_are_cidrs() {
    let text = format!(
        "{MINIMAL}\n[fetch]\nallow_private_networks = true\nprivate_networks = [\"10.0.0.0/8\", \"fd00::/8\"]\n"
    );
    let config = Config::from_toml(&text, None).unwrap();
    assert_eq!(config.fetch.private_networks.len(), 2);
    let text = format!("{MINIMAL}\n[fetch]\nprivate_networks = [\"10.0.0.0/33\"]\n");
    assert_eq!(key_of(&text), "fetch.private_networks[0]");
}

#[test]
fn broker_url_override_wins() {
    let config =
        Config::from_toml(MINIMAL, Some("amqp://user:secret@rabbit:5672/%2f".into())).unwrap();
    assert_eq!(config.broker.url, "amqp://user:secret@rabbit:5672/%2f");
}

#[test]
fn per_feed_routing_key_and_host_limits() {
    let text = format!(
        "{MINIMAL}routing_key = \"news.{{feed_id}}.v1\"\n[fetch.hosts.\"127.0.0.1\"]\nconcurrency = 8\ninterval = \"0ms\"\n"
    );
    let config = Config::from_toml(&text, None).unwrap();
    assert_eq!(
        config
            .broker
            .routing_key_for("bbc-world", Some(&config.feeds[0])),
        "news.bbc-world.v1"
    );
    assert_eq!(
        config.broker.routing_key_for("other", None),
        "article.other"
    );
    assert_eq!(config.fetch.hosts["127.0.0.1"].concurrency, Some(8));
}

#[test]
fn malformed_broker_urls_are_refused_without_quoting_them() {
    for url in [
        "amqp:user:S3cret@rabbit",
        "amqp:user:S3cret@rabbit:5672/%2f",
        "amqp:/user:S3cret@rabbit",
        "amqp://",
        "amqp:///%2f",
    ] {
        match Config::from_toml(MINIMAL, Some(url.into())) {
            Err(e @ ConfigError::Invalid { .. }) => {
                let text = e.to_string();
                assert!(text.starts_with("config key `broker.url`"), "{url}: {text}");
                assert!(!text.contains("S3cret"), "{url}: {text}");
            }
            other => panic!("{url}: expected an invalid broker.url, got {other:?}"),
        }
    }
}

#[test]
fn redaction_never_shows_a_password() {
    assert_eq!(
        redact_url("amqp://guest:S3cret@rabbit:5672/%2f"),
        "amqp://guest:***@rabbit:5672/%2f"
    );
    assert_eq!(redact_url("amqp://rabbit/"), "amqp://rabbit/");
    assert_eq!(
        redact_url("amqps://user:S3cret@rabbit.example/vh?heartbeat=10"),
        "amqps://user:***@rabbit.example/vh?heartbeat=10"
    );
    for url in [
        "amqp:user:S3cret@rabbit",
        "amqp:/user:S3cret@rabbit",
        "amqp://user:S3cret@rabbit:notaport/",
        "amqp://user:S3cret@@rabbit",
        "amqp://user:S3cret%40@rabbit",
        "amqp://user:S3cret@[::1",
        "user:S3cret@rabbit",
        "S3cret",
        "amqp://user:S3cret@/%2f",
        "mailto:user:S3cret@rabbit",
    ] {
        let shown = redact_url(url);
        assert!(!shown.contains("S3cret"), "{url} shown as {shown}");
    }
}

#[test]
fn masked_toml_round_trips_without_the_password() {
    let config =
        Config::from_toml(MINIMAL, Some("amqp://user:s3cret@rabbit:5672/%2f".into())).unwrap();
    let text = config.to_masked_toml();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("amqp://user:***@rabbit:5672/%2f"));
    let back = Config::from_toml(&text, None).unwrap();
    assert_eq!(back.fetch.per_host_interval, Duration::from_millis(250));
    assert_eq!(back.feeds[0].interval, Some(Duration::from_secs(300)));
}

#[test]
fn new_feed_ids_are_unique_slugs_and_feeds_are_checked_alone() {
    let taken: HashSet<String> = ["bbc-world".to_string()].into();
    assert_eq!(
        FeedConfig::new_id(Some("BBC World!"), "https://x", &taken),
        "bbc-world-2"
    );
    assert_eq!(
        FeedConfig::new_id(None, "https://a.example/b.xml", &taken),
        "https-a-example-b-xml"
    );
    let poll = PollConfig::default();
    assert!(
        FeedConfig::new("ok", "https://example.org/feed.xml")
            .check(&poll, "feed")
            .is_ok()
    );
    let bad = FeedConfig::new("ok", "ftp://example.org/");
    match bad.check(&poll, "feed") {
        Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "feed.url"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn interval_bounds_are_checked() {
    let text = format!("{MINIMAL}min_interval = \"10m\"\n");
    assert_eq!(key_of(&text), "feeds[0].max_interval");
    let text = format!("{MINIMAL}min_interval = \"1m\"\nmax_interval = \"1h\"\n");
    assert!(Config::from_toml(&text, None).is_ok());
    let text = format!("{MINIMAL}\n[poll]\nmin_interval = \"7h\"\n");
    assert_eq!(key_of(&text), "poll.max_interval");
    let text = format!("{MINIMAL}max_interval = \"0s\"\n");
    assert_eq!(key_of(&text), "feeds[0].max_interval");
}

#[test]
fn shipped_config_is_valid() {
    let text = include_str!("../../config/feedwire.toml");
    let config = Config::from_toml(text, None).unwrap();
    assert!(config.feeds.len() >= 9);
    assert!(!config.broker.queues.is_empty());
}

#[test]
fn an_explicit_interval_pins_the_bounds() {
    use crate::schedule::Pace;
    let now = 1_780_000_000_000;
    let text = "[broker]\nurl = \"amqp://127.0.0.1\"\n[[feeds]]\nid = \"a\"\nurl = \"https://a.example/\"\ninterval = \"1s\"\n";
    let mut config = Config::from_toml(text, None).unwrap();
    let pinned = config.poll.policy_for(Some(&config.feeds[0]));
    let ttl = Some(Duration::from_secs(15 * 60));
    assert_eq!(
        pinned.interval(&Pace::default(), ttl, None, now),
        Duration::from_secs(1)
    );
    // With its own max, the hint may stretch it up to that max.
    config.feeds[0].max_interval = Some(Duration::from_secs(600));
    let stretchy = config.poll.policy_for(Some(&config.feeds[0]));
    assert_eq!(
        stretchy.interval(&Pace::default(), ttl, None, now),
        Duration::from_secs(600)
    );
}

#[test]
fn host_groups_and_contact_are_checked_and_named() {
    let with = |fetch: &str| format!("{MINIMAL}\n[fetch]\n{fetch}\n");
    let config = Config::from_toml(
        &with(
            "contact_url = \"https://ops.example.org/bot\"\n\
             host_groups.feedburner = [\"feeds.feedburner.com\", \"feedproxy.google.com\"]\n\
             hosts.feedburner = { concurrency = 1 }\n\
             hosts.\"www.example.com\" = { interval = \"1s\" }",
        ),
        None,
    )
    .unwrap();
    assert_eq!(
        config.fetch.user_agent_header(),
        concat!(
            "feedwire/",
            env!("CARGO_PKG_VERSION"),
            " (+https://ops.example.org/bot)"
        )
    );
    assert_eq!(
        config.fetch.host_groups().group_of("feedproxy.google.com"),
        HostGroup::Configured("feedburner".into())
    );
    // The default contact is the project's page.
    let default = Config::from_toml(MINIMAL, None).unwrap();
    assert!(
        default
            .fetch
            .user_agent_header()
            .ends_with(" (+https://github.com/feedwire/feedwire)")
    );

    assert_eq!(
        key_of(&with(
            "host_groups.fb = [\"https://feeds.feedburner.com/\"]"
        )),
        "fetch.host_groups.fb[0]"
    );
    assert_eq!(
        key_of(&with(
            "host_groups.fb = [\"a.example.com\", \"b.example.com:80\"]"
        )),
        "fetch.host_groups.fb[1]"
    );
    assert_eq!(key_of(&with("host_groups.fb = []")), "fetch.host_groups.fb");
    assert_eq!(
        key_of(&with("host_groups.\"f b\" = [\"a.example.com\"]")),
        "fetch.host_groups.f b"
    );
    assert_eq!(
        key_of(&with(
            "host_groups.one = [\"a.example.com\"]\nhost_groups.two = [\"b.example.net\", \"A.example.com\"]"
        )),
        "fetch.host_groups.two[1]"
    );
    // Two overrides for one group: a.example.com and b.example.com are one
    // service, and a configured group by its name and by one of its hosts.
    assert_eq!(
        key_of(&with(
            "hosts.\"a.example.com\" = { concurrency = 1 }\nhosts.\"b.example.com\" = { concurrency = 3 }"
        )),
        "fetch.hosts.b.example.com"
    );
    assert_eq!(
        key_of(&with(
            "host_groups.fb = [\"feeds.feedburner.com\"]\nhosts.fb = { concurrency = 1 }\nhosts.\"feeds.feedburner.com\" = { concurrency = 3 }"
        )),
        "fetch.hosts.feeds.feedburner.com"
    );
    assert_eq!(
        key_of(&with("contact_url = \"ops@example.org\"")),
        "fetch.contact_url"
    );
    // A config written before contact_url, its contact in user_agent, is
    // sent as it is; with contact_url set too it names the conflict.
    let legacy = Config::from_toml(
        &with("user_agent = \"feedwire/1 (+https://x.example/)\""),
        None,
    )
    .unwrap();
    assert_eq!(
        legacy.fetch.user_agent_header(),
        "feedwire/1 (+https://x.example/)"
    );
    assert_eq!(
        key_of(&with(
            "user_agent = \"feedwire/1 (+https://x.example/)\"\ncontact_url = \"https://y.example/\""
        )),
        "fetch.user_agent"
    );
    assert_eq!(key_of(&with("user_agent = \"\"")), "fetch.user_agent");
}

#[test]
fn duplicates_keys_get_defaults_and_are_checked() {
    let config = Config::from_toml(MINIMAL, None).unwrap();
    assert!(config.duplicates.enabled);
    assert_eq!(config.duplicates.window, Duration::from_secs(7 * 86_400));
    assert_eq!(
        config.duplicates.min_similarity,
        crate::dedup::near::DEFAULT_MIN_SIMILARITY
    );
    let with = |body: &str| format!("{MINIMAL}\n[duplicates]\n{body}\n");
    let config = Config::from_toml(&with("window = \"2d\"\nmin_similarity = 0.8"), None).unwrap();
    assert_eq!(config.duplicates.window, Duration::from_secs(2 * 86_400));
    assert_eq!(config.duplicates.min_similarity, 0.8);
    for bad in [
        "window = \"0s\"",
        "window = \"400days\"",
        "window = \"soon\"",
    ] {
        assert_eq!(key_of(&with(bad)), "duplicates.window", "{bad}");
    }
    for bad in [
        "min_similarity = 0.0",
        "min_similarity = 1.5",
        "min_similarity = nan",
    ] {
        assert_eq!(key_of(&with(bad)), "duplicates.min_similarity", "{bad}");
    }
    assert_eq!(key_of(&with("treshold = 0.5")), "duplicates.treshold");
}

#[test]
fn push_is_off_by_default_and_needs_a_callback_base_and_the_ops_endpoint() {
    let config = Config::from_toml(MINIMAL, None).unwrap();
    assert!(!config.push.enabled);
    assert_eq!(config.push.active_base(), None);
    assert_eq!(
        config.push.safety_poll_interval,
        Duration::from_secs(6 * 3600)
    );
    let ops = "[ops]\nlisten = \"127.0.0.1:9090\"\n";
    let with = |ops: &str, push: &str| format!("{MINIMAL}\n{ops}\n[push]\n{push}\n");
    let on = "enabled = true\ncallback_base = \"https://feedwire.example.com/websub\"";
    let config = Config::from_toml(&with(ops, on), None).unwrap();
    assert_eq!(config.push.active_base().map(|u| u.path()), Some("/websub"));
    assert_eq!(key_of(&with("", on)), "ops.listen");
    assert_eq!(key_of(&with(ops, "enabled = true")), "push.callback_base");
    for bad in [
        "callback_base = \"ftp://x.example/websub\"",
        "callback_base = \"https://x.example/\"",
        "callback_base = \"https://x.example/metrics\"",
        "callback_base = \"https://x.example/websub?a=1\"",
    ] {
        assert_eq!(key_of(&with(ops, bad)), "push.callback_base", "{bad}");
    }
    assert_eq!(
        key_of(&with(ops, &format!("{on}\nlease = \"10s\""))),
        "push.lease"
    );
    assert_eq!(key_of(&with(ops, "hub = \"x\"")), "push.hub");
}

//! One WebSub subscription's life, as pure decisions: its callback URL and
//! secret, the answer to a hub's verification of intent (WebSub §5.3), and
//! when to renew. The store, the HTTP side and the scheduler use these; a
//! subscription that is not `Active` with a lease in the future means the
//! feed is polled as usual.

use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use url::Url;

/// What we last asked the hub for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Subscribe,
    Unsubscribe,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Subscribe => "subscribe",
            Mode::Unsubscribe => "unsubscribe",
        }
    }
}

/// Where a subscription stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Asked; the hub has not verified our intent yet.
    Pending(Mode),
    /// Verified: notifications come until the lease ends (ms since epoch).
    Active { lease_until_ms: i64 },
    /// The hub refused (`hub.mode=denied`), with its reason if it gave one.
    Denied { reason: Option<String> },
    /// Unsubscribed, verified by the hub.
    Ended,
}

/// A subscription: the random id in its callback path and its secret are
/// ours alone, so only the hub we gave them to can verify or notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub hub: Url,
    pub topic: Url,
    pub secret: String,
    pub state: State,
}

impl Subscription {
    /// A new subscription to `topic` at `hub`, pending its verification.
    pub fn new(hub: Url, topic: Url) -> Subscription {
        Subscription {
            id: random_hex(16),
            hub,
            topic,
            secret: random_hex(32),
            state: State::Pending(Mode::Subscribe),
        }
    }

    /// Whether pushed notifications can be counted on at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        matches!(self.state, State::Active { lease_until_ms } if lease_until_ms > now_ms)
    }
}

/// Hex of `bytes` bytes from the system's secure random source.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the system's random source works");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The callback of subscription `id` under `base` (`[push] callback_base`).
pub fn callback_url(base: &Url, id: &str) -> Url {
    let mut url = base.clone();
    let path = format!("{}/{id}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    url
}

/// The subscription id in a request path under `base_path`, if it is one.
pub fn id_in_path<'a>(base_path: &str, path: &'a str) -> Option<&'a str> {
    let rest = path.strip_prefix(base_path.trim_end_matches('/'))?;
    let id = rest.strip_prefix('/')?;
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit())).then_some(id)
}

/// What to answer a hub's GET on a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentAnswer {
    /// 200 with the challenge as the body; the subscription's new state.
    Confirm { challenge: String, state: State },
    /// 200 to a denial, which we note (`State::Denied`).
    Denied { state: State },
    /// 404: not a subscription of ours in this mode for this topic.
    Refuse,
}

/// The answer to a verification of intent with `query` (its decoded
/// parameters) for `subscription` (none: the id is unknown), at `now_ms`.
/// We confirm only what we asked for: the mode we are waiting for (or a
/// re-subscription of an active one, as hubs do on renewal), the exact
/// topic, a challenge, and for a subscription its lease.
pub fn answer_intent(
    subscription: Option<&Subscription>,
    query: &[(String, String)],
    now_ms: i64,
) -> IntentAnswer {
    let Some(sub) = subscription else {
        return IntentAnswer::Refuse;
    };
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if param("hub.topic") != Some(sub.topic.as_str()) {
        return IntentAnswer::Refuse;
    }
    let mode = match param("hub.mode") {
        Some("subscribe") => Mode::Subscribe,
        Some("unsubscribe") => Mode::Unsubscribe,
        Some("denied") => {
            let reason = param("hub.reason").map(str::to_string);
            return IntentAnswer::Denied {
                state: State::Denied { reason },
            };
        }
        _ => return IntentAnswer::Refuse,
    };
    let expected = match (&sub.state, mode) {
        (State::Pending(asked), _) => *asked == mode,
        (State::Active { .. }, Mode::Subscribe) => true,
        _ => false,
    };
    let Some(challenge) = param("hub.challenge").filter(|c| !c.is_empty()) else {
        return IntentAnswer::Refuse;
    };
    if !expected {
        return IntentAnswer::Refuse;
    }
    let state = match mode {
        Mode::Unsubscribe => State::Ended,
        Mode::Subscribe => {
            let Some(lease) = param("hub.lease_seconds").and_then(|s| s.parse::<u32>().ok()) else {
                return IntentAnswer::Refuse;
            };
            State::Active {
                lease_until_ms: now_ms + i64::from(lease) * 1000,
            }
        }
    };
    IntentAnswer::Confirm {
        challenge: challenge.to_string(),
        state,
    }
}

/// When to ask the hub again for an active subscription: a tenth of the
/// lease before it ends, but at least `margin` before (a short lease), and
/// never before `now_ms`.
pub fn renew_at_ms(lease_until_ms: i64, lease: Duration, margin: Duration, now_ms: i64) -> i64 {
    let before = (lease.as_millis() / 10).max(margin.as_millis()) as i64;
    (lease_until_ms - before).max(now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(state: State) -> Subscription {
        Subscription {
            state,
            ..Subscription::new(
                Url::parse("https://hub.example/").unwrap(),
                Url::parse("https://news.example/feed.xml").unwrap(),
            )
        }
    }

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const TOPIC: &str = "https://news.example/feed.xml";

    #[test]
    fn ids_and_secrets_are_random_and_callbacks_carry_the_id() {
        let a = sub(State::Pending(Mode::Subscribe));
        let b = sub(State::Pending(Mode::Subscribe));
        assert_ne!(a.id, b.id);
        assert_ne!(a.secret, b.secret);
        assert_eq!((a.id.len(), a.secret.len()), (32, 64));
        let base = Url::parse("https://feedwire.example.com/websub/").unwrap();
        let url = callback_url(&base, &a.id);
        assert_eq!(
            url.as_str(),
            format!("https://feedwire.example.com/websub/{}", a.id)
        );
        assert_eq!(id_in_path("/websub", url.path()), Some(a.id.as_str()));
        assert_eq!(id_in_path("/websub/", url.path()), Some(a.id.as_str()));
        assert_eq!(id_in_path("/websub", "/websub/"), None);
        assert_eq!(id_in_path("/websub", "/websub/../x"), None);
        assert_eq!(id_in_path("/websub", "/other/abc"), None);
    }

    #[test]
    fn only_what_we_asked_for_is_confirmed() {
        let pending = sub(State::Pending(Mode::Subscribe));
        let good = query(&[
            ("hub.mode", "subscribe"),
            ("hub.topic", TOPIC),
            ("hub.challenge", "c123"),
            ("hub.lease_seconds", "86400"),
        ]);
        assert_eq!(
            answer_intent(Some(&pending), &good, 1_000),
            IntentAnswer::Confirm {
                challenge: "c123".into(),
                state: State::Active {
                    lease_until_ms: 1_000 + 86_400_000
                }
            }
        );
        // Unknown subscription, other topic, other mode, no challenge, no lease.
        assert_eq!(answer_intent(None, &good, 0), IntentAnswer::Refuse);
        let mut other = good.clone();
        other[1].1 = "https://news.example/other.xml".into();
        assert_eq!(
            answer_intent(Some(&pending), &other, 0),
            IntentAnswer::Refuse
        );
        let mut unsub = good.clone();
        unsub[0].1 = "unsubscribe".into();
        assert_eq!(
            answer_intent(Some(&pending), &unsub, 0),
            IntentAnswer::Refuse
        );
        assert_eq!(
            answer_intent(Some(&pending), &good[..2], 0),
            IntentAnswer::Refuse
        );
        let no_lease = &good[..3];
        assert_eq!(
            answer_intent(Some(&pending), no_lease, 0),
            IntentAnswer::Refuse
        );
        // An active subscription is re-verified on renewal.
        let active = sub(State::Active { lease_until_ms: 5 });
        assert!(matches!(
            answer_intent(Some(&active), &good, 0),
            IntentAnswer::Confirm { .. }
        ));
        // Unsubscribing: only once we asked for it.
        assert_eq!(
            answer_intent(Some(&active), &unsub, 0),
            IntentAnswer::Refuse
        );
        let leaving = sub(State::Pending(Mode::Unsubscribe));
        assert_eq!(
            answer_intent(Some(&leaving), &unsub[..3], 0),
            IntentAnswer::Confirm {
                challenge: "c123".into(),
                state: State::Ended
            }
        );
    }

    #[test]
    fn a_denial_is_noted_and_leases_run_out() {
        let pending = sub(State::Pending(Mode::Subscribe));
        let denied = query(&[
            ("hub.mode", "denied"),
            ("hub.topic", TOPIC),
            ("hub.reason", "not allowed"),
        ]);
        assert_eq!(
            answer_intent(Some(&pending), &denied, 0),
            IntentAnswer::Denied {
                state: State::Denied {
                    reason: Some("not allowed".into())
                }
            }
        );
        let active = sub(State::Active {
            lease_until_ms: 10_000,
        });
        assert!(active.is_live(9_999));
        assert!(!active.is_live(10_000));
        assert!(!pending.is_live(0));
    }

    #[test]
    fn renewal_comes_before_the_lease_ends() {
        let day = Duration::from_secs(86_400);
        let hour = Duration::from_secs(3600);
        // A tenth of a 10-day lease: one day before.
        assert_eq!(
            renew_at_ms(1_000_000_000, day * 10, hour, 0),
            1_000_000_000 - 86_400_000
        );
        // A short lease: the margin.
        assert_eq!(
            renew_at_ms(10_000_000, Duration::from_secs(600), hour, 0),
            10_000_000 - 3_600_000
        );
        // Never in the past.
        assert_eq!(renew_at_ms(5_000, day, hour, 4_000), 4_000);
    }
}

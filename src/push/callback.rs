//! What the callback endpoint answers, and what it tells the worker, for
//! the two requests a hub makes: a GET to verify our intent (WebSub §5.3)
//! and a POST with a notification (§7, §8). Pure: the HTTP server and the
//! store are the caller's.

use super::discovery::link_header_rels;
use super::signature::verify_signature;
use super::subscription::{IntentAnswer, State, Subscription, answer_intent};

/// The status and body to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            body: body.into(),
        }
    }
}

/// Why a notification was not taken (the metrics' `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Missing, malformed or wrong `X-Hub-Signature`.
    BadSignature,
    /// No live subscription behind the callback, or a notification whose
    /// `Link rel="self"` names another topic.
    UnknownTopic,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::BadSignature => "bad_signature",
            Rejection::UnknownTopic => "unknown_topic",
        }
    }
}

/// A hub's GET: the reply, and the subscription's new state when it changes.
pub fn on_verification(
    subscription: Option<&Subscription>,
    query: &[(String, String)],
    now_ms: i64,
) -> (Reply, Option<State>) {
    match answer_intent(subscription, query, now_ms) {
        IntentAnswer::Confirm { challenge, state } => (Reply::new(200, challenge), Some(state)),
        IntentAnswer::Denied { state } => (Reply::new(200, ""), Some(state)),
        IntentAnswer::Refuse => (Reply::new(404, "no such subscription"), None),
    }
}

/// A hub's POST: the reply, and whether the body is to be taken as the
/// topic's new content. A bad signature is still answered 2xx, as §8 asks,
/// so a forger learns nothing; an unknown callback is 410 Gone, which tells
/// a hub to stop sending.
pub fn on_notification(
    subscription: Option<&Subscription>,
    link_headers: &[&str],
    signature: Option<&str>,
    body: &[u8],
    now_ms: i64,
) -> (Reply, Result<(), Rejection>) {
    let Some(sub) = subscription.filter(|s| s.is_live(now_ms)) else {
        return (
            Reply::new(410, "no such subscription"),
            Err(Rejection::UnknownTopic),
        );
    };
    if verify_signature(signature, body, sub.secret.as_bytes()).is_err() {
        return (Reply::new(202, ""), Err(Rejection::BadSignature));
    }
    let named_elsewhere = link_headers
        .iter()
        .flat_map(|v| link_header_rels(v))
        .filter(|(rel, _)| rel == "self")
        .any(|(_, target)| target != sub.topic.as_str());
    if named_elsewhere {
        return (Reply::new(202, ""), Err(Rejection::UnknownTopic));
    }
    (Reply::new(202, ""), Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::subscription::Mode;
    use hmac::{Hmac, Mac};
    use url::Url;

    fn live() -> Subscription {
        Subscription {
            state: State::Active {
                lease_until_ms: 1_000,
            },
            ..Subscription::new(
                Url::parse("https://hub.example/").unwrap(),
                Url::parse("https://news.example/feed.xml").unwrap(),
            )
        }
    }

    fn signed(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        let digest: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256={digest}")
    }

    #[test]
    fn a_signed_notification_for_a_live_subscription_is_taken() {
        let sub = live();
        let body = b"<feed/>";
        let good = signed(&sub.secret, body);
        let (reply, taken) = on_notification(Some(&sub), &[], Some(&good), body, 0);
        assert_eq!((reply.status, taken), (202, Ok(())));
        let self_link = r#"<https://news.example/feed.xml>; rel="self""#;
        let (_, taken) = on_notification(Some(&sub), &[self_link], Some(&good), body, 0);
        assert_eq!(taken, Ok(()));
    }

    #[test]
    fn bad_signatures_and_unknown_topics_are_rejected() {
        let sub = live();
        let body = b"<feed/>";
        let forged = signed("not the secret", body);
        let (reply, taken) = on_notification(Some(&sub), &[], Some(&forged), body, 0);
        assert_eq!((reply.status, taken), (202, Err(Rejection::BadSignature)));
        let (_, taken) = on_notification(Some(&sub), &[], None, body, 0);
        assert_eq!(taken, Err(Rejection::BadSignature));
        let good = signed(&sub.secret, body);
        let (reply, taken) = on_notification(None, &[], Some(&good), body, 0);
        assert_eq!((reply.status, taken), (410, Err(Rejection::UnknownTopic)));
        // A lapsed lease is no subscription.
        let (_, taken) = on_notification(Some(&sub), &[], Some(&good), body, 1_000);
        assert_eq!(taken, Err(Rejection::UnknownTopic));
        let other = r#"<https://news.example/other.xml>; rel="self""#;
        let (_, taken) = on_notification(Some(&sub), &[other], Some(&good), body, 0);
        assert_eq!(taken, Err(Rejection::UnknownTopic));
    }

    #[test]
    fn verification_echoes_the_challenge_only_when_expected() {
        let pending = Subscription {
            state: State::Pending(Mode::Subscribe),
            ..live()
        };
        let query: Vec<(String, String)> = [
            ("hub.mode", "subscribe"),
            ("hub.topic", "https://news.example/feed.xml"),
            ("hub.challenge", "xyz"),
            ("hub.lease_seconds", "60"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (reply, state) = on_verification(Some(&pending), &query, 0);
        assert_eq!(reply, Reply::new(200, "xyz"));
        assert_eq!(
            state,
            Some(State::Active {
                lease_until_ms: 60_000
            })
        );
        let (reply, state) = on_verification(None, &query, 0);
        assert_eq!((reply.status, state), (404, None));
    }
}

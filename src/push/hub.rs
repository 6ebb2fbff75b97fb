//! Asking a hub to subscribe or unsubscribe (WebSub §5.1): a form POSTed to
//! the hub with our callback, the topic, the mode, and on subscribing the
//! secret and the lease we would like. The hub answers 202 and then
//! verifies our intent on the callback (`subscription::answer_intent`).

use std::time::Duration;

use url::Url;

use super::subscription::{Mode, Subscription, callback_url};
use crate::fetch::{FetchError, Fetcher};

/// The form for `mode` of `subscription`, its callback under `callback_base`.
pub fn hub_form(
    subscription: &Subscription,
    mode: Mode,
    callback_base: &Url,
    lease: Duration,
) -> Vec<(&'static str, String)> {
    let mut form = vec![
        (
            "hub.callback",
            callback_url(callback_base, &subscription.id).to_string(),
        ),
        ("hub.mode", mode.as_str().to_string()),
        ("hub.topic", subscription.topic.to_string()),
    ];
    if mode == Mode::Subscribe {
        form.push(("hub.lease_seconds", lease.as_secs().to_string()));
        form.push(("hub.secret", subscription.secret.clone()));
    }
    form
}

/// POSTs the form to the subscription's hub; a 2xx (202 Accepted, as the
/// spec asks, or another success) means the hub will verify our intent.
pub async fn ask_hub(
    fetcher: &Fetcher,
    subscription: &Subscription,
    mode: Mode,
    callback_base: &Url,
    lease: Duration,
) -> Result<(), FetchError> {
    let form = hub_form(subscription, mode, callback_base, lease);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    fetcher
        .post_form(&subscription.hub, &pairs)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_names_callback_topic_mode_and_on_subscribing_secret_and_lease() {
        let sub = Subscription::new(
            Url::parse("https://hub.example/").unwrap(),
            Url::parse("https://news.example/feed.xml").unwrap(),
        );
        let base = Url::parse("https://feedwire.example.com/websub").unwrap();
        let form = hub_form(&sub, Mode::Subscribe, &base, Duration::from_secs(864_000));
        let get = |form: &[(&str, String)], k: &str| {
            form.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        };
        assert_eq!(
            get(&form, "hub.callback").unwrap(),
            format!("https://feedwire.example.com/websub/{}", sub.id)
        );
        assert_eq!(get(&form, "hub.mode").unwrap(), "subscribe");
        assert_eq!(
            get(&form, "hub.topic").unwrap(),
            "https://news.example/feed.xml"
        );
        assert_eq!(get(&form, "hub.lease_seconds").unwrap(), "864000");
        assert_eq!(get(&form, "hub.secret").unwrap(), sub.secret);
        let form = hub_form(&sub, Mode::Unsubscribe, &base, Duration::from_secs(1));
        assert_eq!(get(&form, "hub.mode").unwrap(), "unsubscribe");
        assert_eq!(get(&form, "hub.secret"), None);
        assert_eq!(get(&form, "hub.lease_seconds"), None);
    }
}

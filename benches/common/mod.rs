//! What the benchmarks share: the local broker and cleaning up after it.

pub const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The start of a benchmark's config: a throw-away exchange and queue named
/// `tag` on the local broker, the store at `store`, and a loopback farm
/// fetched `concurrency` requests at a time with no gap.
pub fn config_head(tag: &str, store: &std::path::Path, host: &str, concurrency: usize) -> String {
    format!(
        r#"
[broker]
url = "{BROKER}"
exchange = "{tag}"
[[broker.queues]]
name = "{tag}"
binding = "article.#"
[store]
path = "{store}"
[fetch.hosts."{host}"]
concurrency = {concurrency}
interval = "0ms"
[poll]
concurrency = {concurrency}
"#,
        store = store.display()
    )
}

/// Deletes the throw-away queue and exchange a benchmark published to
/// (both named `tag`).
pub async fn delete_topology(tag: &str) {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let Ok(conn) = lapin::Connection::connect(BROKER, Default::default()).await else {
        return;
    };
    if let Ok(channel) = conn.create_channel().await {
        let _ = channel
            .queue_delete(tag.into(), QueueDeleteOptions::default())
            .await;
        let _ = channel
            .exchange_delete(tag.into(), ExchangeDeleteOptions::default())
            .await;
    }
    let _ = conn.close(200, "bench done".into()).await;
}

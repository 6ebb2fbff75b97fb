//! A PostgreSQL schema of its own per test, on the server `.ci/run` starts
//! (or `FEEDWIRE_TEST_POSTGRES_URL`), dropped with everything in it.

pub fn server_url() -> String {
    std::env::var("FEEDWIRE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

pub async fn admin() -> tokio_postgres::Client {
    let url = server_url();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {url} does not answer ({e}); `.ci/run` starts it")
        });
    tokio::spawn(connection);
    client
}

/// A schema of its own, dropped with everything in it at the end.
pub struct Schema(String);

impl Schema {
    pub async fn new() -> Schema {
        let name = format!("fw_workers_{}_{}", std::process::id(), fastrand::u32(..));
        admin()
            .await
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        Schema(name)
    }

    pub fn url(&self) -> String {
        let base = server_url();
        let join = if base.contains('?') { '&' } else { '?' };
        format!(
            "{base}{join}options=-c%20search_path%3D{0}&application_name={0}",
            self.0
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let admin = admin().await;
                    let _ = admin
                        .execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                             WHERE application_name = $1 AND pid <> pg_backend_pid()",
                            &[&name],
                        )
                        .await;
                    let _ = admin
                        .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
                        .await;
                })
        })
        .join();
    }
}

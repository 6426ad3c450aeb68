//! Nodes started inside the test process ([`tern_server::serve::Node`]), for tests that steer
//! what a node cannot be told from outside: which queue shards it is given (the ownership
//! input the cluster will drive), or its actors. Every listener is on 127.0.0.1:0.

use std::{path::Path, sync::Arc};

use tern_server::{
    config::{Config, queue::RawRoute, raw::RawConfig},
    queue::{QueueContext, ownership::Shards},
    serve::{Addresses, Node},
    shutdown::Shutdown,
};
use tokio::{sync::watch, task::JoinHandle};

/// A node running in this process.
pub struct InProcess {
    /// Where it listens.
    pub addresses: Addresses,
    /// Its outbound queue.
    pub queue: Arc<QueueContext>,
    shutdown: Shutdown,
    task: JoinHandle<anyhow::Result<()>>,
}

/// The development profile with its data in `data_dir`, every listener on 127.0.0.1:0, fast
/// queue scans and 1-second retries.
pub fn config(data_dir: &Path) -> anyhow::Result<RawConfig> {
    let mut raw = Config::read(None, true)?;
    raw.server.data_dir = data_dir.display().to_string();
    let l = &mut raw.listeners;
    for slot in [
        &mut l.smtp,
        &mut l.submission,
        &mut l.submissions,
        &mut l.imap,
        &mut l.imaps,
        &mut l.pop3,
        &mut l.pop3s,
        &mut l.http,
    ] {
        *slot = "127.0.0.1:0".into();
    }
    // No DNS here: mail authentication would wait out its deadline on every message.
    raw.smtp.checks.mx = vec!["ip_lists".into()];
    raw.queue.scan_interval_ms = 100;
    raw.queue.retry_intervals_seconds = "1".into();
    raw.queue.connect_timeout_seconds = 2;
    Ok(raw)
}

/// Sends `domain`'s mail to `host` (`ip:port`) in plaintext.
pub fn route(raw: &mut RawConfig, domain: &str, host: std::net::SocketAddr) {
    raw.queue.routes.insert(
        domain.into(),
        RawRoute {
            host: host.to_string(),
            tls: "none".into(),
            username: String::new(),
            password: String::new(),
            retry_intervals_seconds: String::new(),
        },
    );
}

/// Points `raw` at a PostgreSQL database.
pub fn postgres(raw: &mut RawConfig, url: &str) {
    raw.store.backend = "postgres".into();
    raw.store.postgres_url = Some(url.into());
}

impl InProcess {
    /// Builds and runs a node; `given` hands out its queue shards (`None`: all of them).
    pub async fn start(
        raw: RawConfig,
        given: Option<watch::Receiver<Shards>>,
    ) -> anyhow::Result<InProcess> {
        let config = Config::validate(raw, true)?;
        let node = Node::build_with(config, given).await?;
        Ok(InProcess {
            addresses: node.addresses().clone(),
            queue: node.queue(),
            shutdown: node.shutdown(),
            task: tokio::spawn(node.run()),
        })
    }

    /// The admin endpoint's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addresses.http.expect("http listener"))
    }

    /// One metric's value summed over its series, from `/metrics` (`name` may include the
    /// labels of one series, as exported).
    pub async fn metric(&self, name: &str) -> f64 {
        let url = format!("{}/metrics", self.url());
        let body = tokio::task::spawn_blocking(move || {
            ureq::get(&url)
                .call()
                .expect("metrics")
                .body_mut()
                .read_to_string()
                .expect("metrics body")
        })
        .await
        .expect("metrics request");
        crate::metric_sum(&body, name)
    }

    /// Shuts the node down and waits for it to stop.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        self.task.await?
    }
}

//! Where a benchmark sends its load: a release `tern serve --dev` it starts (the default), or,
//! with `TERN_BENCH_SERVER=host` set, any other server, so the same figures can be taken of
//! Postfix + Dovecot (or anything else) side by side with the same load generator:
//!
//! - `TERN_BENCH_IMAPS_PORT` (default 993), `TERN_BENCH_SMTP_PORT` (default 25) and
//!   `TERN_BENCH_SUBMISSION_PORT` (default 587, STARTTLS);
//! - `TERN_BENCH_USER` / `TERN_BENCH_PASSWORD`: the account the IMAP figures use (its INBOX
//!   should start empty) and SMTP delivers to; benchmarks that deliver to several users send
//!   to `user0@…`, `user1@…` in its domain, which must exist with the same password;
//! - `TERN_BENCH_CA`: the PEM certificate (or CA) the server's TLS is checked against; it
//!   must name `localhost`.
//!
//! Figures only Tern exports (its metrics, its memory) are skipped for another server.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::Context;

use crate::{Tern, imap, smtp};

/// The dev admin token of a started Tern.
pub const TOKEN: &str = "bench-token";
/// The dev password of a started Tern.
pub const PASSWORD: &str = "bench-password";

/// The server under load.
pub struct Target {
    tern: Option<Tern>,
    /// The admin token of a started Tern.
    token: &'static str,
    _dir: Option<tempfile::TempDir>,
    /// IMAP over implicit TLS.
    pub imaps: SocketAddr,
    /// SMTP (MX).
    pub smtp: SocketAddr,
    /// Submission (STARTTLS and AUTH).
    pub submission: SocketAddr,
    /// The account.
    pub user: String,
    /// Its password.
    pub password: String,
    /// Client TLS trusting the server's certificate.
    pub tls: Arc<rustls::ClientConfig>,
}

fn var(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// The number in the environment variable `key`, else `default`.
pub fn env_or(key: &str, default: u64) -> u64 {
    var(key).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// How long a timed benchmark runs: `TERN_BENCH_SECONDS`, 10 by default.
pub fn seconds() -> u64 {
    env_or("TERN_BENCH_SECONDS", 10)
}

impl Target {
    /// The server named by `TERN_BENCH_SERVER`, else a release `tern serve --dev` started with
    /// `env` added to its environment (ignored for another server).
    pub fn start(env: &[(&str, &str)]) -> anyhow::Result<Target> {
        match var("TERN_BENCH_SERVER") {
            Some(host) => Self::other(&host),
            None => Self::started(env),
        }
    }

    fn other(host: &str) -> anyhow::Result<Target> {
        let port = |key: &str, default: u16| -> anyhow::Result<u16> {
            var(key).map_or(Ok(default), |p| {
                p.parse()
                    .with_context(|| format!("{key}={p} is not a port"))
            })
        };
        let resolve = |port: u16| -> anyhow::Result<SocketAddr> {
            std::net::ToSocketAddrs::to_socket_addrs(&(host, port))?
                .next()
                .with_context(|| format!("{host} resolves to no address"))
        };
        let ca = var("TERN_BENCH_CA").context("TERN_BENCH_CA names the server's certificate")?;
        Ok(Target {
            tern: None,
            token: TOKEN,
            _dir: None,
            imaps: resolve(port("TERN_BENCH_IMAPS_PORT", 993)?)?,
            smtp: resolve(port("TERN_BENCH_SMTP_PORT", 25)?)?,
            submission: resolve(port("TERN_BENCH_SUBMISSION_PORT", 587)?)?,
            user: var("TERN_BENCH_USER").context("TERN_BENCH_USER names the account")?,
            password: var("TERN_BENCH_PASSWORD").context("TERN_BENCH_PASSWORD is needed")?,
            tls: smtp::tls_config(&PathBuf::from(ca))?,
        })
    }

    fn started(env: &[(&str, &str)]) -> anyhow::Result<Target> {
        let dir = tempfile::tempdir()?;
        let mut all = vec![
            ("TERN_DEV_ADMIN_TOKEN", TOKEN),
            ("TERN_DEV_PASSWORD", PASSWORD),
            ("RUST_LOG", "warn"),
        ];
        all.extend_from_slice(env);
        let tern = Tern::start(dir.path(), &["--dev"], &all)?;
        let mut target = Self::of(tern, TOKEN, PASSWORD)?;
        target._dir = Some(dir);
        Ok(target)
    }

    /// A `tern serve --dev` the benchmark started itself (a cluster node, say) with admin
    /// `token` and the dev account's `password`.
    pub fn of(tern: Tern, token: &'static str, password: &str) -> anyhow::Result<Target> {
        Ok(Target {
            token,
            imaps: tern.addr("imaps"),
            smtp: tern.addr("smtp"),
            submission: tern.addr("submission"),
            user: "demo@example.test".into(),
            password: password.into(),
            tls: smtp::tls_config(&tern.certificate())?,
            tern: Some(tern),
            _dir: None,
        })
    }

    /// The Tern process, when the target is one this benchmark started.
    pub fn tern(&self) -> Option<&Tern> {
        self.tern.as_ref()
    }

    /// The `n`th of the extra users in the account's domain (`user{n}@domain`); on a started
    /// Tern it is created first.
    pub fn extra_user(&self, n: usize) -> anyhow::Result<String> {
        let domain = self.user.rsplit_once('@').map_or("", |(_, d)| d);
        let address = format!("user{n}@{domain}");
        if let Some(tern) = &self.tern {
            tern.api_send(
                self.token,
                "POST",
                "/accounts",
                serde_json::json!({ "address": address, "password": self.password }),
            )?;
        }
        Ok(address)
    }

    /// A logged-in IMAP session of the account over implicit TLS.
    pub async fn imap(&self) -> anyhow::Result<imap::Client> {
        self.imap_as(&self.user).await
    }

    /// A logged-in IMAP session of `user` (the account or an extra user, which shares its
    /// password) over implicit TLS.
    pub async fn imap_as(&self, user: &str) -> anyhow::Result<imap::Client> {
        let (mut c, _) = imap::Client::connect(self.imaps, Some(&self.tls)).await?;
        let r = c.login(user, &self.password).await?;
        anyhow::ensure!(r.ok(), "login: {}", r.all());
        Ok(c)
    }

    /// The server's resident memory in MB (Tern's `process_resident_memory_bytes`).
    pub fn rss_mb(&self) -> Option<f64> {
        let metrics = self.tern.as_ref()?.get("/metrics").ok()?.1;
        Some(crate::metric_sum(&metrics, "process_resident_memory_bytes") / 1e6)
    }

    /// CPU seconds a started Tern has used (its metric counts whole seconds only).
    pub fn cpu_seconds(&self) -> Option<f64> {
        self.tern.as_ref()?.cpu_seconds()
    }

    /// Tern's `tern_memory_bytes` parts, one `part=MB` each, when it is a started Tern.
    pub fn memory_parts(&self) -> Option<String> {
        let metrics = self.tern.as_ref()?.get("/metrics").ok()?.1;
        let parts: Vec<String> = metrics
            .lines()
            .filter_map(|l| l.strip_prefix("tern_memory_bytes{part=\""))
            .filter_map(|l| {
                let (part, value) = l.split_once("\"} ")?;
                Some(format!("{part}={:.1}", value.parse::<f64>().ok()? / 1e6))
            })
            .collect();
        Some(format!("memory by part (MB): {}", parts.join(" ")))
    }

    /// Prints a started Tern's metric lines that start with one of `prefixes`, indented.
    pub fn print_metrics(&self, prefixes: &[&str]) {
        let Some(metrics) = self.tern.as_ref().and_then(|t| t.get("/metrics").ok()) else {
            return;
        };
        for line in metrics
            .1
            .lines()
            .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
        {
            println!("  {line}");
        }
    }

    /// Stops a started Tern (its log checked); nothing for another server.
    pub fn stop(self) -> anyhow::Result<()> {
        match self.tern {
            Some(tern) => tern.stop(),
            None => Ok(()),
        }
    }
}

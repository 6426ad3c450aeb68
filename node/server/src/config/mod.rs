//! Configuration in two steps (STYLE.md §11): [`raw::RawConfig`] as read from TOML and the
//! environment, then [`Config`], validated and immutable, which the node runs on.

mod checks;
pub mod cluster;
pub mod imap;
mod log_level;
mod passwords;
mod pop3;
pub mod proxy;
pub mod queue;
pub mod raw;
mod score;
mod security;
pub mod show;
mod smtp;
mod store;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, anyhow, bail};
use config::{Environment, File, FileFormat};

use self::raw::{RawConfig, RawListeners};
pub use self::{
    checks::ChecksConfig, cluster::ClusterConfig, imap::ImapConfig, log_level::check_log_level,
    pop3::Pop3Config, proxy::ProxyConfig, queue::QueueConfig, security::SecurityConfig,
    smtp::SmtpConfig,
};

/// Which store backend the node uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Files under the data directory.
    Embedded,
    /// A PostgreSQL database several nodes share.
    Postgres {
        /// Connection URL (holds the password: never logged).
        url: String,
        /// CA of the database's certificate.
        ca_file: Option<std::path::PathBuf>,
        /// Connections kept per node.
        pool_size: usize,
        /// Connect timeout.
        connect_timeout: Duration,
        /// Statement timeout.
        statement_timeout: Duration,
    },
    /// A FoundationDB cluster.
    Fdb {
        /// Cluster file (`None`: FoundationDB's default).
        cluster_file: Option<String>,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Listener addresses; `None` disables a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listeners {
    /// SMTP MX.
    pub smtp: Option<SocketAddr>,
    /// Submission (STARTTLS).
    pub submission: Option<SocketAddr>,
    /// Submission (implicit TLS).
    pub submissions: Option<SocketAddr>,
    /// IMAP (STARTTLS).
    pub imap: Option<SocketAddr>,
    /// IMAP (implicit TLS).
    pub imaps: Option<SocketAddr>,
    /// POP3 (STLS).
    pub pop3: Option<SocketAddr>,
    /// POP3 (implicit TLS).
    pub pop3s: Option<SocketAddr>,
    /// Admin API and metrics.
    pub http: SocketAddr,
    /// The cluster port (`None`: not in a cluster).
    pub cluster: Option<SocketAddr>,
}

/// The validated runtime configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Host name for greetings.
    pub hostname: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Grace period on shutdown.
    pub shutdown_grace: Duration,
    /// Bytes of client input held in memory at once, node-wide.
    pub max_buffered_bytes: u64,
    /// How long a verified login spares the next ones the password check (zero: off).
    pub login_cache_ttl: Duration,
    /// Verified logins cached at most.
    pub login_cache_entries: usize,
    /// Postmaster notices: (the same condition's notices at most this often, conditions
    /// evaluated this often); `None`: off.
    pub notices: Option<(Duration, Duration)>,
    /// How long message tracking keeps its events (zero: off).
    pub tracking_retention: Duration,
    /// Store backend.
    pub backend: Backend,
    /// Disk headroom below which new mail is refused.
    pub storage_floor: tern_store::space::Floor,
    /// Bytes the embedded store always keeps free.
    pub store_reserve_bytes: u64,
    /// Bytes of the embedded store's block cache.
    pub store_cache_bytes: u64,
    /// Listeners.
    pub listeners: Listeners,
    /// Certificate and key files (`None`: a self-signed pair is generated in the data dir).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Names the generated certificate carries besides `localhost` and `127.0.0.1`: the host
    /// name, then `tls.extra_names`.
    pub certificate_names: Vec<String>,
    /// Whether local parts compare case-sensitively.
    pub local_part_case_sensitive: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// Whether this is the development profile.
    pub dev: bool,
    /// SMTP.
    pub smtp: SmtpConfig,
    /// POP3.
    pub pop3: Pop3Config,
    /// IMAP.
    pub imap: ImapConfig,
    /// Outbound queue.
    pub queue: QueueConfig,
    /// This node among the nodes sharing the store.
    pub cluster: ClusterConfig,
    /// PROXY protocol per mail listener.
    pub proxy: ProxyConfig,
    /// The Argon2id cost of password hashes.
    pub password_hashing: tern_store::model::password::Hashing,
    /// Login protection.
    pub security: SecurityConfig,
}

/// Environment variables that configure Tern look like `TERN_LISTENERS__HTTP`; other `TERN_*`
/// variables (`TERN_DEV_PASSWORD`, `TERN_ADMIN_TOKEN`, ...) are not configuration keys.
fn config_env() -> std::collections::HashMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("TERN_") && k.contains("__"))
        .collect()
}

impl Config {
    /// Loads defaults (production or dev), then the file, then the environment, and validates.
    #[cfg(test)]
    pub fn load(file: Option<&str>, dev: bool) -> anyhow::Result<Config> {
        Self::validate(Self::read(file, dev)?, dev)
    }

    /// The configuration as written: defaults (production or dev), then the file, then the
    /// environment, not yet validated.
    pub fn read(file: Option<&str>, dev: bool) -> anyhow::Result<RawConfig> {
        let mut builder = config::Config::builder();
        if dev {
            builder = builder
                .set_default("server.data_dir", "./data")?
                .set_default("server.hostname", "localhost")?
                // Few clients on a laptop; keeps the descriptor need under common limits.
                .set_default("imap.max_connections", 1000)?
                // No postmaster notices: the demo inbox holds only what is sent to it.
                .set_default("server.notice_interval_seconds", 0)?
                .set_default("log.format", "text")?;
            let l = RawListeners::dev();
            for (k, v) in [
                ("smtp", l.smtp),
                ("submission", l.submission),
                ("submissions", l.submissions),
                ("imap", l.imap),
                ("imaps", l.imaps),
                ("pop3", l.pop3),
                ("pop3s", l.pop3s),
                ("http", l.http),
            ] {
                builder = builder.set_default(format!("listeners.{k}"), v)?;
            }
        }
        if let Some(path) = file {
            builder = builder.add_source(File::new(path, FileFormat::Toml).required(true));
        }
        builder = builder.add_source(
            Environment::with_prefix("TERN")
                .prefix_separator("_")
                .separator("__")
                .source(Some(config_env())),
        );
        builder
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .map_err(|e| anyhow!("invalid configuration: {e}"))
    }

    /// Turns the raw form into the runtime form, naming the key of every problem.
    pub fn validate(raw: RawConfig, dev: bool) -> anyhow::Result<Config> {
        let backend = store::backend(&raw.store)?;
        if raw.store.min_free_percent > 100 {
            bail!(
                "store.min_free_percent: {} is not a percentage (0 to 100)",
                raw.store.min_free_percent
            );
        }
        let storage_floor = tern_store::space::Floor {
            bytes: raw.store.min_free_bytes,
            percent: raw.store.min_free_percent,
        };
        let addr = |key: &str, v: &str| -> anyhow::Result<Option<SocketAddr>> {
            if v.trim().is_empty() {
                return Ok(None);
            }
            v.trim()
                .parse()
                .map(Some)
                .map_err(|_| anyhow!("listeners.{key}: {v:?} is not a host:port socket address"))
        };
        let l = &raw.listeners;
        let listeners = Listeners {
            smtp: addr("smtp", &l.smtp)?,
            submission: addr("submission", &l.submission)?,
            submissions: addr("submissions", &l.submissions)?,
            imap: addr("imap", &l.imap)?,
            imaps: addr("imaps", &l.imaps)?,
            pop3: addr("pop3", &l.pop3)?,
            pop3s: addr("pop3s", &l.pop3s)?,
            http: addr("http", &l.http)?
                .ok_or_else(|| anyhow!("listeners.http: the admin listener cannot be disabled"))?,
            cluster: addr("cluster", &l.cluster)?,
        };
        let mut bound: Vec<(&str, SocketAddr)> = Vec::new();
        for (key, a) in [
            ("smtp", listeners.smtp),
            ("submission", listeners.submission),
            ("submissions", listeners.submissions),
            ("imap", listeners.imap),
            ("imaps", listeners.imaps),
            ("pop3", listeners.pop3),
            ("pop3s", listeners.pop3s),
            ("http", Some(listeners.http)),
            ("cluster", listeners.cluster),
        ] {
            // Port 0 asks the system for a free port: never a clash.
            let Some(a) = a.filter(|a| a.port() != 0) else {
                continue;
            };
            if let Some((other, _)) = bound.iter().find(|(_, b)| {
                b.port() == a.port()
                    && (b.ip() == a.ip() || b.ip().is_unspecified() || a.ip().is_unspecified())
            }) {
                bail!("listeners.{key}: {a} is also the address of listeners.{other}");
            }
            bound.push((key, a));
        }
        let tls = match (&raw.tls.certificate, &raw.tls.private_key) {
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            (None, None) => None,
            _ => bail!("tls.certificate and tls.private_key must be given together"),
        };
        let local_part_case_sensitive = match raw.addresses.local_part_case.as_str() {
            "exact" => true,
            "insensitive" => false,
            other => bail!(
                "addresses.local_part_case: {other:?} (expected \"exact\" or \"insensitive\")"
            ),
        };
        check_log_level(&raw.log.level)?;
        let log_format = match raw.log.format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => bail!("log.format: {other:?} (expected \"text\" or \"json\")"),
        };
        let hostname = raw.server.hostname.trim().to_ascii_lowercase();
        if hostname.is_empty() {
            bail!(
                "server.hostname: not set; set it to this node's public name (the EHLO name and \
                 the domain of bounce senders), e.g. hostname = \"mx.example.org\""
            );
        }
        if !dev && (hostname == "localhost" || hostname.ends_with(".localhost")) {
            bail!(
                "server.hostname: {hostname:?} is not a public name; remote servers would see \
                 EHLO {hostname} and bounces would come from MAILER-DAEMON@{hostname}. Set it \
                 to this node's name, e.g. hostname = \"mx.example.org\""
            );
        }
        if tls.is_none() && !dev && !raw.tls.allow_self_signed {
            bail!(
                "tls.certificate: no certificate configured; set tls.certificate and \
                 tls.private_key to PEM files, or tls.allow_self_signed = true to run with a \
                 generated self-signed certificate (mail clients will warn about it)"
            );
        }
        if let Some((cert, key)) = &tls {
            for (path, name) in [(cert, "tls.certificate"), (key, "tls.private_key")] {
                std::fs::File::open(path)
                    .map_err(|e| anyhow!("{name}: cannot read {}: {e}", path.display()))?;
            }
        }
        let mut certificate_names = vec![hostname.clone()];
        certificate_names.extend(raw.tls.extra_names.iter().map(|n| n.trim().to_string()));
        if raw.server.data_dir.trim().is_empty() {
            bail!("server.data_dir: must not be empty");
        }
        let write_timeout = Duration::from_secs(require_positive(
            "server",
            "write_timeout_seconds",
            raw.server.write_timeout_seconds,
        )?);
        let queue = QueueConfig::try_from(&raw.queue)?;
        let smtp = smtp::validate(
            &raw.smtp,
            &hostname,
            &raw.server.postmaster,
            write_timeout,
            queue.shards,
        )?;
        let pop3 = pop3::validate(&raw.pop3, write_timeout)?;
        Ok(Config {
            imap: ImapConfig {
                write_timeout,
                ..ImapConfig::try_from(&raw.imap)?
            },
            queue,
            cluster: ClusterConfig::validate(&raw.cluster, listeners.cluster.is_some())?,
            proxy: ProxyConfig::validate(&raw.proxy)?,
            password_hashing: passwords::validate(&raw.passwords)?,
            security: security::validate(&raw.security)?,
            pop3,
            smtp,
            hostname,
            data_dir: PathBuf::from(raw.server.data_dir),
            shutdown_grace: Duration::from_secs(raw.server.shutdown_grace_seconds),
            login_cache_ttl: Duration::from_secs(raw.server.login_cache_seconds),
            login_cache_entries: raw.server.login_cache_entries,
            tracking_retention: Duration::from_secs(
                raw.server.tracking_retention_days.saturating_mul(86_400),
            ),
            notices: match (
                raw.server.notice_interval_seconds,
                raw.server.notice_check_seconds,
            ) {
                (0, _) => None,
                (_, 0) => bail!(
                    "server.notice_check_seconds: 0 is not an interval (turn notices off with notice_interval_seconds = 0)"
                ),
                (every, check) => Some((Duration::from_secs(every), Duration::from_secs(check))),
            },
            max_buffered_bytes: match raw.server.max_buffered_bytes {
                0 => crate::net::budget::Budget::default_limit(),
                n => n,
            },
            backend,
            storage_floor,
            store_reserve_bytes: raw.store.reserve_bytes,
            store_cache_bytes: mebibytes("store", "cache_mib", raw.store.cache_mib)?,
            listeners,
            tls,
            certificate_names,
            local_part_case_sensitive,
            log_format,
            log_level: raw.log.level,
            dev,
        })
    }
}

/// Refuses a zero where a limit must be positive, naming `section.key`.
pub(super) fn require_positive(section: &str, key: &str, v: u64) -> anyhow::Result<u64> {
    if v == 0 {
        bail!("{section}.{key}: must be greater than zero");
    }
    Ok(v)
}

/// `v` MiB in bytes, for a memory size of at most 1 TiB.
pub(super) fn mebibytes(section: &str, key: &str, v: u64) -> anyhow::Result<u64> {
    match v.checked_mul(1 << 20) {
        Some(bytes) if bytes <= 1 << 40 => Ok(bytes),
        _ => bail!("{section}.{key} must be at most 1048576 (1 TiB)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Production configuration from `text`, with a host name and the self-signed
    /// certificate allowed unless `text` has its own `[server]` / `[tls]`.
    fn toml(text: &str) -> anyhow::Result<Config> {
        let mut full = String::new();
        if !text.contains("[server]") {
            full.push_str("[server]\nhostname = \"mx.example.org\"\n");
        }
        if !text.contains("[tls]") {
            full.push_str("[tls]\nallow_self_signed = true\n");
        }
        full.push_str(text);
        bare_toml(&full)
    }

    fn bare_toml(text: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("tern.toml");
        std::fs::write(&path, text)?;
        Config::load(path.to_str(), false)
    }

    #[test]
    fn production_needs_a_host_name_and_a_certificate_decision() {
        let e = bare_toml("[tls]\nallow_self_signed = true\n").expect_err("no hostname");
        assert!(
            format!("{e:#}").contains("server.hostname: not set"),
            "{e:#}"
        );
        let e = bare_toml("[server]\nhostname = \"localhost\"\n[tls]\nallow_self_signed = true\n")
            .expect_err("localhost");
        assert!(
            format!("{e:#}").contains("MAILER-DAEMON@localhost"),
            "{e:#}"
        );
        let e = bare_toml("[server]\nhostname = \"mx.example.org\"\n").expect_err("no tls");
        assert!(
            format!("{e:#}").contains("tls.allow_self_signed = true"),
            "{e:#}"
        );
        let c = toml("[server]\nhostname = \"MX.Example.org\"\n[tls]\nallow_self_signed = true\nextra_names = [\"imap.example.org\"]\n")
            .expect("valid");
        assert_eq!(c.hostname, "mx.example.org");
        assert_eq!(c.certificate_names, ["mx.example.org", "imap.example.org"]);
        // The dev profile keeps localhost and its generated certificate.
        assert_eq!(Config::load(None, true).expect("dev").hostname, "localhost");
    }

    #[test]
    fn memory_sizes_are_mebibytes_up_to_a_tebibyte() {
        let c = toml("[store]\ncache_mib = 64\n[imap]\nenvelope_cache_mib = 0\n").expect("valid");
        assert_eq!(c.store_cache_bytes, 64 << 20);
        assert_eq!(c.imap.envelope_cache_bytes, 0);
        for (text, key) in [
            ("[store]\ncache_mib = 1048577\n", "store.cache_mib"),
            (
                "[imap]\nenvelope_cache_mib = 9223372036854775807\n",
                "imap.envelope_cache_mib",
            ),
        ] {
            let e = toml(text).expect_err(key);
            assert_eq!(
                format!("{e:#}"),
                format!("{key} must be at most 1048576 (1 TiB)"),
                "{text}"
            );
        }
    }

    #[test]
    fn notices_and_tracking_settings() {
        let c = toml("").expect("defaults");
        assert_eq!(
            c.notices,
            Some((Duration::from_secs(86_400), Duration::from_secs(300)))
        );
        assert_eq!(c.tracking_retention, Duration::from_secs(7 * 86_400));
        let e = toml("[server]\nhostname = \"mx.example.org\"\nnotice_check_seconds = 0\n")
            .expect_err("no interval");
        assert!(
            format!("{e:#}").contains("server.notice_check_seconds: 0 is not an interval"),
            "{e:#}"
        );
        let off = toml("[server]\nhostname = \"mx.example.org\"\nnotice_interval_seconds = 0\ntracking_retention_days = 0\n")
            .expect("off");
        assert_eq!(off.notices, None);
        assert!(off.tracking_retention.is_zero());
        // The dev profile sends no notices.
        assert_eq!(Config::load(None, true).expect("dev").notices, None);
    }

    #[test]
    fn validation_catches_what_would_fail_later() {
        let e = toml("[tls]\ncertificate = \"/nonexistent/cert.pem\"\nprivate_key = \"/nonexistent/key.pem\"\n")
            .expect_err("missing files");
        assert!(
            format!("{e:#}").contains("tls.certificate: cannot read /nonexistent/cert.pem"),
            "{e:#}"
        );
        let e = toml("[listeners]\nimap = \"127.0.0.1:1143\"\npop3 = \"127.0.0.1:1143\"\n")
            .expect_err("same address");
        assert!(
            format!("{e:#}")
                .contains("listeners.pop3: 127.0.0.1:1143 is also the address of listeners.imap"),
            "{e:#}"
        );
        let e =
            toml("[listeners]\nimap = \"127.0.0.1:993\"\n").expect_err("same port as 0.0.0.0:993");
        assert!(format!("{e:#}").contains("listeners.imaps"), "{e:#}");
        toml("[listeners]\nimap = \"127.0.0.1:0\"\npop3 = \"127.0.0.1:0\"\n")
            .expect("port 0 twice");
        for bad in ["verbose", "info,tern=loud", "=debug"] {
            let e = toml(&format!("[log]\nlevel = \"{bad}\"\n")).expect_err(bad);
            assert!(format!("{e:#}").contains("log.level"), "{e:#}");
        }
        toml("[log]\nlevel = \"info,tern::smtp=debug,fjall=WARN\"\n").expect("valid filter");
        let e = toml(
            "[queue.routes.\"example.net\"]\nhost = \"mx.example.net:25\"\npassword = \"s3cret\"\n",
        )
        .expect_err("password without user");
        assert!(
            format!("{e:#}")
                .contains("queue.routes.\"example.net\": a password is set without a username"),
            "{e:#}"
        );
    }

    #[test]
    fn production_defaults_bind_standard_ports() {
        let c = toml("").expect("defaults");
        assert_eq!(c.listeners.smtp.map(|a| a.port()), Some(25));
        assert_eq!(c.listeners.imaps.map(|a| a.port()), Some(993));
        assert_eq!(c.backend, Backend::Embedded);
        assert!(c.local_part_case_sensitive);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = toml("[server]\nhostnam = \"x\"\n").expect_err("typo");
        assert!(format!("{e:#}").contains("hostnam"), "{e:#}");
        let e = toml("[listeners]\nsmtp = \"nope\"\n").expect_err("bad addr");
        assert!(format!("{e:#}").contains("listeners.smtp"), "{e:#}");
        let e = toml("[store]\nbackend = \"rocks\"\n").expect_err("bad backend");
        assert!(format!("{e:#}").contains("store.backend"), "{e:#}");
        let e = toml("[smtp]\nquota_failure = \"maybe\"\n").expect_err("bad quota policy");
        assert!(format!("{e:#}").contains("smtp.quota_failure"), "{e:#}");
        let e = toml("[smtp]\nmax_recipients = 0\n").expect_err("zero");
        assert!(format!("{e:#}").contains("smtp.max_recipients"), "{e:#}");
        let e = toml("[tls]\ncertificate = \"a.pem\"\n").expect_err("half tls");
        assert!(format!("{e:#}").contains("tls.private_key"), "{e:#}");
    }

    #[test]
    fn dev_profile_uses_unprivileged_loopback_ports() {
        let c = Config::load(None, true).expect("dev");
        assert_eq!(
            c.listeners.smtp,
            Some("127.0.0.1:2525".parse().expect("addr"))
        );
        assert_eq!(c.listeners.http, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(c.data_dir, PathBuf::from("./data"));
    }
}

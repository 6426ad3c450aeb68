//! How the postgres backend reaches its database: the connection settings parsed from
//! `store.postgres_url`, the session settings every connection gets, TLS through rustls when the
//! URL asks for it, and a description of the server (host and port, never the password) for
//! error messages.

use std::{path::PathBuf, str::FromStr, sync::Arc, time::Duration};

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::StoreError;

/// What an operator sets for the postgres backend.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/database?sslmode=...` (or libpq's `key=value` form).
    /// `sslmode=require`, `verify-ca` or `verify-full` turn TLS on; the server's certificate is
    /// then always verified, against the web PKI roots or `ca_file`.
    pub url: String,
    /// Connections kept open to the database (each transaction holds one while it runs).
    pub pool_size: usize,
    /// How long opening a connection may take.
    pub connect_timeout: Duration,
    /// The longest one statement may run before the database cancels it.
    pub statement_timeout: Duration,
    /// PEM file of the certificate authority that signed the database's certificate.
    pub ca_file: Option<PathBuf>,
}

impl PgOptions {
    /// Options with the defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            ca_file: None,
        }
    }
}

/// A parsed URL with the TLS connector it needs.
pub(crate) struct Target {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) tls: MakeRustlsConnect,
    /// `host:port` for messages.
    pub(crate) server: String,
}

/// A configuration error about `store.postgres_url` (never retried).
fn config_error(message: String) -> StoreError {
    StoreError::Backend {
        code: 0,
        message,
        retryable: false,
    }
}

/// Splits `sslmode` out of the URL: tokio-postgres knows only `disable|prefer|require`, and Tern
/// verifies certificates whenever it encrypts, so the three libpq modes that encrypt all mean
/// "TLS, verified" here.
fn take_ssl_mode(url: &str) -> (String, bool) {
    let mut tls = false;
    let keep = |part: &str, tls: &mut bool| match part.strip_prefix("sslmode=") {
        Some(mode) => {
            *tls = matches!(mode, "require" | "verify-ca" | "verify-full");
            false
        }
        None => true,
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), false);
        };
        let rest: Vec<&str> = query.split('&').filter(|p| keep(p, &mut tls)).collect();
        let url = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        (url, tls)
    } else {
        let rest: Vec<&str> = url
            .split_whitespace()
            .filter(|p| keep(p, &mut tls))
            .collect();
        (rest.join(" "), tls)
    }
}

impl Target {
    pub(crate) fn new(options: &PgOptions) -> Result<Self, StoreError> {
        let (url, tls) = take_ssl_mode(&options.url);
        let mut config = tokio_postgres::Config::from_str(&url)
            .map_err(|e| config_error(format!("store.postgres_url does not parse: {e}")))?;
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        if hosts.is_empty() {
            return Err(config_error(
                "store.postgres_url names no host (e.g. postgres://tern@db.example:5432/tern)"
                    .into(),
            ));
        }
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let server = format!("{}:{port}", hosts.join(","));
        config
            .ssl_mode(if tls {
                SslMode::Require
            } else {
                SslMode::Disable
            })
            .connect_timeout(options.connect_timeout)
            .application_name("tern")
            .options(format!(
                "-c statement_timeout={} -c idle_in_transaction_session_timeout=60000 \
                 -c lock_timeout={}",
                options.statement_timeout.as_millis(),
                options.statement_timeout.as_millis()
            ));
        Ok(Self {
            config,
            tls: MakeRustlsConnect::new(client_config(options.ca_file.as_ref())?),
            server,
        })
    }

    /// An error for a connection that could not be opened, naming the setting and the server.
    pub(crate) fn unreachable(&self, error: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable(format!(
            "cannot reach the database of store.postgres_url at {}: {error}",
            self.server
        ))
    }
}

/// rustls with the web PKI roots, or only the operator's CA when one is given.
fn client_config(ca_file: Option<&PathBuf>) -> Result<rustls::ClientConfig, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                config_error(format!("store.postgres_ca_file {}: {e}", path.display()))
            })?;
            use rustls_pki_types::pem::PemObject;
            let certs = rustls_pki_types::CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    config_error(format!("store.postgres_ca_file {}: {e}", path.display()))
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(config_error(format!(
                    "store.postgres_ca_file {} holds no certificate",
                    path.display()
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(format!("TLS to the database: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_mode_is_taken_out_of_both_url_forms() {
        assert_eq!(
            take_ssl_mode("postgres://u:p@h:5/db?sslmode=verify-full&connect_timeout=3"),
            ("postgres://u:p@h:5/db?connect_timeout=3".to_string(), true)
        );
        assert_eq!(
            take_ssl_mode("postgres://u@h/db?sslmode=disable"),
            ("postgres://u@h/db".to_string(), false)
        );
        assert_eq!(
            take_ssl_mode("host=h user=u sslmode=require"),
            ("host=h user=u".to_string(), true)
        );
        assert_eq!(
            take_ssl_mode("postgres://u@h/db"),
            ("postgres://u@h/db".to_string(), false)
        );
    }

    #[test]
    fn messages_name_the_server_and_never_the_password() {
        let target = Target::new(&PgOptions::new(
            "postgres://tern:s3cret@db.example:6543/mail",
        ))
        .expect("parses");
        let message = target.unreachable("connection refused").to_string();
        assert!(message.contains("store.postgres_url"), "{message}");
        assert!(message.contains("db.example:6543"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
        let bad = Target::new(&PgOptions::new("postgres://tern@/mail")).err();
        assert!(bad.is_some_and(|e| e.to_string().contains("no host")));
    }
}

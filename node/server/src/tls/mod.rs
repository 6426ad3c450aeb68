//! Certificates: the configured PEM pair, or a self-signed one generated with rcgen into the
//! data directory (the dev profile, and production until a real certificate is configured).

mod generated;
mod inspect;
pub mod resumption;

use std::path::{Path, PathBuf};

use anyhow::Context;

pub(crate) use self::generated::write_private;
pub use self::generated::{generate_self_signed, renew_if_due};
pub use self::inspect::Facts;
use self::{inspect::not_after, resumption::Resumption};

/// The node's TLS server configuration, swapped atomically when the certificate files change
/// (checked periodically) so renewals need no restart; session resumption survives the swap.
pub struct TlsConfig {
    paths: (PathBuf, PathBuf),
    resumption: Resumption,
    current: std::sync::RwLock<(
        std::sync::Arc<rustls::ServerConfig>,
        Option<std::time::SystemTime>,
    )>,
}

fn modified(paths: &(PathBuf, PathBuf)) -> Option<std::time::SystemTime> {
    let a = std::fs::metadata(&paths.0)
        .and_then(|m| m.modified())
        .ok()?;
    let b = std::fs::metadata(&paths.1)
        .and_then(|m| m.modified())
        .ok()?;
    Some(a.max(b))
}

/// Builds a rustls server configuration (TLS 1.2 and 1.3, ring) from PEM files.
pub fn load_server_config(cert: &Path, key: &Path) -> anyhow::Result<rustls::ServerConfig> {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("tls.certificate: reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("tls.certificate: parsing {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("tls.certificate: no certificate in {}", cert.display());
    }
    let end = not_after(&certs[0]);
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("tls.private_key: reading {}", key.display()))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("tls: certificate and private key do not match")?;
    match end {
        Some(end) => crate::metrics::CERTIFICATE_EXPIRY
            .with_label_values(&["mail"])
            .set(end),
        None => {
            tracing::warn!(certificate = %cert.display(), "cannot read the certificate's end date; tern_tls_certificate_expiry_seconds is not set")
        }
    }
    Ok(config)
}

impl TlsConfig {
    /// Loads the pair once; startup fails on a bad pair.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let paths = (cert.to_path_buf(), key.to_path_buf());
        let resumption = Resumption::new()?;
        let mut config = load_server_config(cert, key)?;
        resumption.apply(&mut config);
        Ok(Self {
            current: std::sync::RwLock::new((std::sync::Arc::new(config), modified(&paths))),
            resumption,
            paths,
        })
    }

    /// What the certificate being served says of itself (read from its file).
    pub fn facts(&self) -> anyhow::Result<Facts> {
        use rustls_pki_types::{CertificateDer, pem::PemObject};
        let cert = CertificateDer::pem_file_iter(&self.paths.0)?
            .next()
            .ok_or_else(|| anyhow::anyhow!("no certificate in {}", self.paths.0.display()))??;
        inspect::facts(&cert, &self.paths.0)
    }

    /// The server side of a handshake on `io` with the current configuration, counted by kind
    /// (full or resumed) once complete.
    pub async fn accept<IO>(&self, io: IO) -> std::io::Result<tokio_rustls::server::TlsStream<IO>>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let acceptor = {
            let current = self.current.read().expect("tls config lock");
            tokio_rustls::TlsAcceptor::from(current.0.clone())
        };
        let stream = acceptor.accept(io).await?;
        resumption::count(stream.get_ref().1.handshake_kind());
        Ok(stream)
    }

    /// Reloads when the files changed; a bad new pair is logged and the old one kept.
    pub fn reload_if_changed(&self) {
        let stamp = modified(&self.paths);
        if stamp.is_none() || stamp == self.current.read().expect("tls config lock").1 {
            return;
        }
        match load_server_config(&self.paths.0, &self.paths.1) {
            Ok(mut config) => {
                self.resumption.apply(&mut config);
                *self.current.write().expect("tls config lock") =
                    (std::sync::Arc::new(config), stamp);
                tracing::info!(certificate = %self.paths.0.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "TLS certificate changed but cannot be loaded; keeping the old one")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewed_certificate_is_picked_up_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) =
            generate_self_signed(dir.path(), &["one.test".into()]).expect("first pair");
        let tls = TlsConfig::load(&cert, &key).expect("load");
        let first = tls.current.read().expect("lock").0.clone();
        std::thread::sleep(std::time::Duration::from_millis(20));
        generate_self_signed(dir.path(), &["two.test".into()]).expect("renewed pair");
        tls.reload_if_changed();
        let second = tls.current.read().expect("lock").0.clone();
        assert!(!std::sync::Arc::ptr_eq(&first, &second), "renewal reloaded");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&cert, "not a certificate").expect("break it");
        tls.reload_if_changed();
        let third = tls.current.read().expect("lock").0.clone();
        assert!(
            std::sync::Arc::ptr_eq(&second, &third),
            "a broken file keeps the last good pair"
        );
        assert!(
            TlsConfig::load(&cert, &key).is_err(),
            "but refuses it at startup"
        );
    }

    #[test]
    fn the_end_date_is_read_from_the_certificate() {
        use rustls_pki_types::{CertificateDer, pem::PemObject};
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, _) = generate_self_signed(dir.path(), &["one.test".into()]).expect("pair");
        let der = CertificateDer::pem_file_iter(&cert)
            .expect("read")
            .next()
            .expect("one certificate")
            .expect("parses");
        let now = chrono::Utc::now().timestamp();
        let end = not_after(&der).expect("an end date");
        // The generated certificate is valid for a year.
        assert!(
            (now + 360 * 86400..now + 370 * 86400).contains(&end),
            "{end} is about a year after {now}"
        );
        assert_eq!(not_after(&CertificateDer::from(vec![0x30, 0x03])), None);
    }
}

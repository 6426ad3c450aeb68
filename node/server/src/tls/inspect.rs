//! What a certificate says of itself (x509-cert): when it ends, the names it covers, whether
//! it signed itself — for the expiry metric and the doctor.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use x509_cert::{
    Certificate,
    der::{Decode, oid::AssociatedOid},
    ext::pkix::{SubjectAltName, name::GeneralName},
};

/// A served certificate's facts.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Its file.
    pub path: PathBuf,
    /// When it ends (Unix seconds).
    pub not_after: i64,
    /// Its DNS names (subject alternative names).
    pub names: Vec<String>,
    /// Issuer and subject are the same: nobody vouches for it.
    pub self_signed: bool,
}

impl Facts {
    /// Whether it covers `host` (exactly, or by a `*.` wildcard one label deep).
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.names.iter().any(|n| {
            let n = n.to_ascii_lowercase();
            n == host
                || n.strip_prefix("*.").is_some_and(|rest| {
                    host.split_once('.')
                        .is_some_and(|(_, parent)| parent == rest)
                })
        })
    }
}

/// When `cert` ends (Unix seconds).
pub fn not_after(cert: &CertificateDer<'_>) -> Option<i64> {
    let parsed = Certificate::from_der(cert.as_ref()).ok()?;
    let end = parsed.tbs_certificate.validity.not_after.to_unix_duration();
    i64::try_from(end.as_secs()).ok()
}

/// Everything [`Facts`] holds, from `cert` read from `path`.
pub fn facts(cert: &CertificateDer<'_>, path: &Path) -> anyhow::Result<Facts> {
    let parsed = Certificate::from_der(cert.as_ref())
        .map_err(|e| anyhow::anyhow!("{}: not an X.509 certificate: {e}", path.display()))?;
    let tbs = &parsed.tbs_certificate;
    let mut names = Vec::new();
    for ext in tbs.extensions.iter().flatten() {
        if ext.extn_id != SubjectAltName::OID {
            continue;
        }
        if let Ok(san) = SubjectAltName::from_der(ext.extn_value.as_bytes()) {
            for name in san.0 {
                if let GeneralName::DnsName(dns) = name {
                    names.push(dns.to_string());
                }
            }
        }
    }
    Ok(Facts {
        path: path.to_path_buf(),
        not_after: not_after(cert).unwrap_or(0),
        names,
        self_signed: tbs.issuer == tbs.subject,
    })
}

//! The self-signed certificate a node generates when none is configured: written to the data
//! directory with a small record of its names and end, reused across restarts (so its
//! fingerprint stays and clients' exceptions keep working), valid for a year and replaced a
//! month before it ends.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

/// How long a generated certificate is valid.
const VALID_DAYS: i64 = 365;
/// How long before its end it is replaced.
const RENEW_BEFORE_DAYS: i64 = 30;

/// What was generated, kept next to the pair.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Record {
    names: Vec<String>,
    /// Unix seconds at which the certificate stops being valid.
    not_after: i64,
}

fn paths(data_dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (
        dir.join("self-signed-cert.pem"),
        dir.join("self-signed-key.pem"),
        dir.join("self-signed.json"),
    )
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(tern_store::model::now(), 0).unwrap_or_default()
}

/// What the certificate names: the node's names (its host name first, then `tls.extra_names`),
/// `localhost` and `127.0.0.1`, each once.
fn names(hosts: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for n in hosts
        .iter()
        .map(String::as_str)
        .chain(["localhost", "127.0.0.1"])
    {
        let n = n.trim().to_ascii_lowercase();
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

/// The pair naming `hosts` in the data directory: the one generated earlier while it names the
/// same hosts and has more than a month left, else a new one. Returns the certificate and key
/// paths.
pub fn generate_self_signed(
    data_dir: &Path,
    hosts: &[String],
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (cert, key, record) = paths(data_dir);
    if !due(&record, hosts) && cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    write_new(data_dir, hosts)?;
    Ok((cert, key))
}

/// Replaces the generated pair when it is due (the node's TLS reload then picks it up);
/// returns whether it did.
pub fn renew_if_due(data_dir: &Path, hosts: &[String]) -> anyhow::Result<bool> {
    let (_, _, record) = paths(data_dir);
    if !due(&record, hosts) {
        return Ok(false);
    }
    write_new(data_dir, hosts)?;
    tracing::info!("renewed the generated self-signed certificate");
    Ok(true)
}

fn due(record: &Path, hosts: &[String]) -> bool {
    let Some(r) = std::fs::read(record)
        .ok()
        .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
    else {
        return true;
    };
    r.names != names(hosts) || r.not_after - now().timestamp() < RENEW_BEFORE_DAYS * 86400
}

fn write_new(data_dir: &Path, hosts: &[String]) -> anyhow::Result<()> {
    let (cert_path, key_path, record_path) = paths(data_dir);
    let names = names(hosts);
    let mut params =
        rcgen::CertificateParams::new(names.clone()).context("the certificate's names")?;
    let start = now() - chrono::Duration::days(1);
    let end = now() + chrono::Duration::days(VALID_DAYS);
    let ymd = |d: DateTime<Utc>| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    params.not_before = ymd(start);
    params.not_after = ymd(end);
    let key = rcgen::KeyPair::generate().context("generating a key")?;
    let cert = params
        .self_signed(&key)
        .context("generating a self-signed certificate")?;
    if let Some(dir) = cert_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem())
        .with_context(|| format!("writing {}", cert_path.display()))?;
    // The day the certificate ends (midnight UTC, as written in it).
    let not_after = end
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(end.timestamp(), |d| d.and_utc().timestamp());
    let record = serde_json::to_vec(&Record { names, not_after })?;
    std::fs::write(&record_path, record)
        .with_context(|| format!("writing {}", record_path.display()))
}

/// Writes a file only its owner may read (mode 0600).
#[cfg(unix)]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes a file (no permission bits to set on this platform).
#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_until_due_then_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mx = ["mx.test".to_string()];
        let (cert, _) = generate_self_signed(dir.path(), &mx).expect("generate");
        let first = std::fs::read(&cert).expect("read");
        generate_self_signed(dir.path(), &mx).expect("again");
        assert_eq!(std::fs::read(&cert).expect("read"), first, "reused");
        assert!(!renew_if_due(dir.path(), &mx).expect("check"));

        // A year ahead minus the renewal month: due.
        let (_, _, record) = paths(dir.path());
        let mut r: Record =
            serde_json::from_slice(&std::fs::read(&record).expect("read")).expect("record");
        let days_left = (r.not_after - now().timestamp()) / 86400;
        assert!(
            (363..=365).contains(&days_left),
            "valid for a year: {days_left}"
        );
        r.not_after = now().timestamp() + 29 * 86400;
        std::fs::write(&record, serde_json::to_vec(&r).expect("json")).expect("write");
        assert!(renew_if_due(dir.path(), &mx).expect("renew"));
        assert_ne!(std::fs::read(&cert).expect("read"), first, "replaced");

        // Another host name and an extra name: a new certificate naming them.
        let hosts = ["other.test".to_string(), "Mail.Other.Test".to_string()];
        generate_self_signed(dir.path(), &hosts).expect("new name");
        let r: Record =
            serde_json::from_slice(&std::fs::read(&record).expect("read")).expect("record");
        assert_eq!(
            r.names,
            ["other.test", "mail.other.test", "localhost", "127.0.0.1"]
        );
    }
}

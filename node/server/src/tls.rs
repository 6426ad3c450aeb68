//! Certificates: the configured PEM pair, or a self-signed one generated with rcgen into the
//! data directory (the dev profile, and production until a real certificate is configured).

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Where the generated pair is kept.
pub fn generated_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (
        dir.join("self-signed-cert.pem"),
        dir.join("self-signed-key.pem"),
    )
}

/// Generates a fresh self-signed certificate for `hostname` (and localhost / 127.0.0.1),
/// writing it to the data directory; returns the certificate and key paths.
pub fn generate_self_signed(data_dir: &Path, hostname: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (cert_path, key_path) = generated_paths(data_dir);
    let names = vec![
        hostname.to_string(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ];
    let generated = rcgen::generate_simple_self_signed(names)
        .context("generating a self-signed certificate")?;
    if let Some(dir) = cert_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&cert_path, generated.cert.pem())
        .with_context(|| format!("writing {}", cert_path.display()))?;
    write_private(&key_path, generated.signing_key.serialize_pem().as_bytes())?;
    Ok((cert_path, key_path))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
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

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

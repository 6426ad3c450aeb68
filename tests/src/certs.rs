//! Certificates and keys for tests, made with the `openssl` command (installed by .ci/run): a
//! self-signed end-entity certificate for one DNS name that ends after a number of days, and
//! RSA keys (for DKIM and ARC).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Writes `cert.pem` and `key.pem` (P-256) for `name`, valid `days` days, into `dir`.
pub fn self_signed(dir: &Path, name: &str, days: u32) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes",
            "-days",
            &days.to_string(),
            "-subj",
            &format!("/CN={name}"),
        ])
        .args(["-addext", &format!("subjectAltName=DNS:{name}")])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (installed by .ci/run)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

/// An RSA-2048 private key from `openssl genpkey` (ring cannot generate RSA keys), as a PEM
/// file in `dir`.
pub fn rsa_key(dir: &std::path::Path) -> std::path::PathBuf {
    let pem = dir.join("rsa.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl genpkey: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    pem
}

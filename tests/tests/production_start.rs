//! A node's identity across starts: the dev profile's secrets stay, the generated certificate
//! names what was configured, production refuses to start without a public host name or a
//! certificate decision, a failed first start keeps the bootstrap token, a token given in
//! `TERN_BOOTSTRAP_ADMIN_TOKEN` (a Kubernetes Secret) is the admin token and too short a one
//! is refused, and `check-config` prints TOML without secrets.

use std::{
    net::TcpListener,
    process::{Command, Output},
    sync::Arc,
};

use rustls_pki_types::ServerName;
use tern_tests::{Tern, bin, imap, ok, smtp, ternctl};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The value after `marker` on a banner line.
fn printed(tern: &Tern, marker: &str) -> String {
    tern.banner
        .iter()
        .find_map(|l| l.split_once(marker).map(|(_, v)| v.to_string()))
        .unwrap_or_else(|| panic!("no {marker:?} in {:?}", tern.banner))
        .split_whitespace()
        .next()
        .expect("value")
        .to_string()
}

async fn handshake(
    addr: std::net::SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    name: &str,
) -> bool {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from(name.to_string()).expect("server name");
    TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_secrets_and_certificate_survive_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = [("TERN_TLS__EXTRA_NAMES", "imap.example.test")];
    let tern = Tern::start(dir.path(), &["--dev"], &extra).expect("first start");
    let password = printed(&tern, "password: ");
    let token = printed(&tern, "admin token: ");
    assert!(token.starts_with("tern_"), "{token}");
    let cert = std::fs::read(tern.certificate()).expect("certificate");
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    for name in ["localhost", "127.0.0.1", "imap.example.test"] {
        assert!(
            handshake(tern.addr("imaps"), &tls, name).await,
            "certificate names {name}"
        );
    }
    assert!(
        !handshake(tern.addr("imaps"), &tls, "other.example.test").await,
        "and nothing else"
    );
    tern.stop().expect("stop");

    let tern = Tern::start(dir.path(), &["--dev"], &extra).expect("restart");
    assert_eq!(printed(&tern, "password: "), password, "same password");
    assert_eq!(printed(&tern, "admin token: "), token, "same token");
    assert_eq!(
        std::fs::read(tern.certificate()).expect("cert"),
        cert,
        "same certificate"
    );
    ok(&ternctl(&tern.url(), Some(&token), &["domain", "list"]));
    let mut c = imap::session(&tern, "demo@example.test", &password).await;
    assert!(c.cmd("LOGOUT").await.expect("logout").ok());
    let mode = std::fs::metadata(dir.path().join("data/dev-secrets.json"))
        .expect("secrets file")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    tern.stop().expect("stop");

    // The variables still win, and a token given that way is accepted too.
    let tern = Tern::start(
        dir.path(),
        &["--dev"],
        &[
            ("TERN_DEV_PASSWORD", "from-the-env-1"),
            ("TERN_DEV_ADMIN_TOKEN", "env-token-1"),
        ],
    )
    .expect("start with variables");
    assert!(
        tern.banner
            .iter()
            .any(|l| l.contains("password from TERN_DEV_PASSWORD"))
    );
    ok(&ternctl(
        &tern.url(),
        Some("env-token-1"),
        &["domain", "list"],
    ));
    let mut c = imap::session(&tern, "demo@example.test", "from-the-env-1").await;
    assert!(c.cmd("LOGOUT").await.expect("logout").ok());
    tern.stop().expect("stop");
}

fn serve(dir: &std::path::Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin("tern"));
    cmd.arg("serve").current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run tern")
}

#[test]
fn production_refuses_to_start_without_a_name_or_a_certificate_decision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf8");
    let out = serve(dir.path(), &[("TERN_SERVER__DATA_DIR", data)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.hostname: not set"), "{stderr}");

    let out = serve(
        dir.path(),
        &[
            ("TERN_SERVER__DATA_DIR", data),
            ("TERN_SERVER__HOSTNAME", "localhost"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MAILER-DAEMON@localhost"), "{stderr}");

    let out = serve(
        dir.path(),
        &[
            ("TERN_SERVER__DATA_DIR", data),
            ("TERN_SERVER__HOSTNAME", "mx.example.org"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tls.certificate: no certificate configured")
            && stderr.contains("tls.allow_self_signed = true"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing written by a refused start"
    );
}

#[test]
fn a_failed_first_start_keeps_the_bootstrap_token_for_the_next() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf8");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_addr = taken.local_addr().expect("addr").to_string();
    let production = [
        ("TERN_SERVER__DATA_DIR", data),
        ("TERN_SERVER__HOSTNAME", "mx.example.org"),
        ("TERN_TLS__ALLOW_SELF_SIGNED", "true"),
        ("TERN_LOG__FORMAT", "text"),
    ];
    let listeners: Vec<(String, String)> = [
        "HTTP",
        "SMTP",
        "SUBMISSION",
        "SUBMISSIONS",
        "IMAP",
        "IMAPS",
        "POP3S",
    ]
    .iter()
    .map(|k| (format!("TERN_LISTENERS__{k}"), "127.0.0.1:0".to_string()))
    .chain([("TERN_LISTENERS__POP3".to_string(), taken_addr)])
    .collect();
    let mut env = production.to_vec();
    env.extend(listeners.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let out = serve(dir.path(), &env);
    assert!(!out.status.success(), "the taken port stops the start");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listeners.pop3"), "{stderr}");
    assert!(!stdout.contains("bootstrap admin token"), "{stdout}");
    assert!(
        stderr.contains("self-signed certificate for mx.example.org"),
        "the self-signed warning: {stderr}"
    );
    drop(taken);

    let tern = Tern::start(dir.path(), &[], &production).expect("second start");
    let token = printed(&tern, "bootstrap admin token (shown once, keep it safe): ");
    ok(&ternctl(&tern.url(), Some(&token), &["domain", "list"]));
    tern.stop().expect("stop");
}

#[test]
fn a_bootstrap_token_from_the_environment_is_the_admin_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf8");
    let token = "k8s-secret-token-0123456789abcdef";
    let mut env = vec![
        ("TERN_SERVER__DATA_DIR", data),
        ("TERN_SERVER__HOSTNAME", "mx.example.org"),
        ("TERN_TLS__ALLOW_SELF_SIGNED", "true"),
        ("TERN_BOOTSTRAP_ADMIN_TOKEN", "too-short"),
    ];
    let out = serve(dir.path(), &env);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TERN_BOOTSTRAP_ADMIN_TOKEN: at least 24 characters"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("too-short"),
        "the token is not echoed: {stderr}"
    );
    env.pop();
    env.push(("TERN_BOOTSTRAP_ADMIN_TOKEN", token));
    // Twice, as every member of a new cluster starts with it: no token printed, the given one
    // works, a wrong one does not.
    for _ in 0..2 {
        let tern = Tern::start(dir.path(), &[], &env).expect("start");
        assert!(
            !tern
                .banner
                .iter()
                .any(|l| l.contains("bootstrap admin token")),
            "{:?}",
            tern.banner
        );
        ok(&ternctl(&tern.url(), Some(token), &["domain", "list"]));
        assert!(
            !ternctl(
                &tern.url(),
                Some("k8s-secret-token-wrong-0000000"),
                &["domain", "list"]
            )
            .status
            .success()
        );
        assert!(
            !tern.log().iter().any(|l| l.contains(token)),
            "the token is not logged"
        );
        tern.stop().expect("stop");
    }
}

#[test]
fn check_config_prints_toml_without_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tern.toml");
    std::fs::write(
        &path,
        "[server]\nhostname = \"mx.example.org\"\n[tls]\nallow_self_signed = true\n\
         [queue]\nrelay_host = \"relay.example.net:587\"\nrelay_username = \"tern\"\n\
         relay_password = \"relay-pw-s3cret\"\n\
         [queue.routes.\"example.net\"]\nhost = \"mx.example.net:25\"\nusername = \"u\"\n\
         password = \"route-pw-s3cret\"\n",
    )
    .expect("write");
    let out = Command::new(bin("tern"))
        .args(["check-config", "--config", path.to_str().expect("utf8")])
        .output()
        .expect("check-config");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("relay_password = \"<redacted>\""), "{text}");
    assert!(text.contains("hostname = \"mx.example.org\""), "{text}");
    // Fed back, it is a valid configuration.
    let again = dir.path().join("again.toml");
    std::fs::write(&again, text.as_bytes()).expect("write");
    let out = Command::new(bin("tern"))
        .args(["check-config", "--config", again.to_str().expect("utf8")])
        .output()
        .expect("check-config again");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A closed output ends it quietly, without a panic.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "\"{}\" check-config --config \"{}\" >&-",
            bin("tern").display(),
            path.display()
        ))
        .output()
        .expect("closed stdout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");

    // --help of ternctl never shows a password taken from the environment.
    let out = Command::new(bin("ternctl"))
        .args(["account", "add", "--help"])
        .env("TERN_NEW_PASSWORD", "help-pw-s3cret")
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("TERN_NEW_PASSWORD") && !help.contains("s3cret"),
        "{help}"
    );
}

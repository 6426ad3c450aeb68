//! What a login costs: TLS sessions resume on every TLS listener (implicit TLS and STARTTLS,
//! TLS 1.3 and 1.2), so a reconnecting client skips the key exchange; the Argon2id cost is a
//! setting that cannot go below OWASP's minimums, and a password stored at another cost is
//! hashed again at the first login after the change.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rustls_pki_types::{CertificateDer, pem::PemObject};
use tern_tests::{Tern, imap, pop3, smtp};

const TOKEN: &str = "costs-token";
const PASSWORD: &str = "costs-password";
const USER: &str = "demo@example.test";

/// A client configuration of its own (its own session store), trusting `tern`'s certificate,
/// offering only TLS 1.2 when `tls12` is set.
fn client(tern: &Tern, tls12: bool) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(tern.certificate()).expect("certificate") {
        roots.add(cert.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// One session on `service` over TLS with `tls`, exchanging one command after the handshake
/// (so that TLS 1.3 tickets sent after it are read).
async fn session(tern: &Tern, service: &str, tls: &Arc<rustls::ClientConfig>) {
    match service {
        "imaps" | "imap" => {
            let mut c = if service == "imaps" {
                imap::Client::connect(tern.addr("imaps"), Some(tls)).await
            } else {
                let (c, _) = imap::Client::connect(tern.addr("imap"), None)
                    .await
                    .expect("connect");
                c.starttls(tls).await.map(|c| (c, String::new()))
            }
            .expect("connect")
            .0;
            assert!(c.cmd("NOOP").await.expect("noop").ok());
            let _ = c.cmd("LOGOUT").await;
        }
        "pop3s" | "pop3" => {
            let mut c = if service == "pop3s" {
                pop3::Client::connect(tern.addr("pop3s"), Some(tls)).await
            } else {
                let (c, _) = pop3::Client::connect(tern.addr("pop3"), None)
                    .await
                    .expect("connect");
                c.stls(tls).await.map(|c| (c, String::new()))
            }
            .expect("connect")
            .0;
            assert!(c.cmd("QUIT").await.expect("quit").starts_with("+OK"));
        }
        "submissions" => {
            let (mut c, _) = smtp::Client::connect_tls(tern.addr("submissions"), tls.clone())
                .await
                .expect("connect");
            c.expect("EHLO client.test", 250).await.expect("ehlo");
            let _ = c.cmd("QUIT").await;
        }
        "submission" => {
            let (mut c, _) = smtp::Client::connect(tern.addr("submission"), Some(tls.clone()))
                .await
                .expect("connect");
            c.expect("EHLO client.test", 250).await.expect("ehlo");
            let mut c = c.starttls().await.expect("starttls");
            c.expect("EHLO client.test", 250).await.expect("ehlo");
            let _ = c.cmd("QUIT").await;
        }
        other => panic!("no service {other}"),
    }
}

fn handshakes(tern: &Tern, kind: &str) -> f64 {
    tern.metric(&format!("tern_tls_handshakes_total{{kind=\"{kind}\"}}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_sessions_resume_on_every_tls_listener() {
    let (_d, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    assert_eq!(handshakes(&tern, "full"), 0.0, "exported at 0 from start");
    assert_eq!(handshakes(&tern, "resumed"), 0.0);
    for tls12 in [false, true] {
        for service in [
            "imaps",
            "imap",
            "pop3s",
            "pop3",
            "submissions",
            "submission",
        ] {
            let what = format!("{service} (TLS 1.2 only: {tls12})");
            let tls = client(&tern, tls12);
            let (full, resumed) = (handshakes(&tern, "full"), handshakes(&tern, "resumed"));
            session(&tern, service, &tls).await;
            assert_eq!(
                handshakes(&tern, "full"),
                full + 1.0,
                "{what}: first is full"
            );
            assert_eq!(handshakes(&tern, "resumed"), resumed, "{what}");
            session(&tern, service, &tls).await;
            session(&tern, service, &tls).await;
            assert_eq!(
                handshakes(&tern, "resumed"),
                resumed + 2.0,
                "{what}: the next ones resume"
            );
            assert_eq!(handshakes(&tern, "full"), full + 1.0, "{what}");
        }
    }
    tern.stop().expect("clean stop");
}

/// Resumption does not depend on how many clients there are: 600 clients (each with its
/// session store) connect once, then again, and every second handshake resumes (a server-side
/// session cache of a few hundred entries would have forgotten most of them).
#[tokio::test(flavor = "multi_thread")]
async fn many_clients_all_resume() {
    const CLIENTS: usize = 600;
    let (_d, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    let configs: Vec<_> = (0..CLIENTS).map(|_| client(&tern, false)).collect();
    let addr = tern.addr("imaps");
    let round = |configs: Vec<Arc<rustls::ClientConfig>>| async move {
        for chunk in configs.chunks(20) {
            let tasks: Vec<_> = chunk
                .iter()
                .cloned()
                .map(|tls| {
                    tokio::spawn(async move {
                        let (mut c, _) = imap::Client::connect(addr, Some(&tls))
                            .await
                            .expect("connect");
                        let _ = c.cmd("LOGOUT").await;
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("session");
            }
        }
    };
    round(configs.clone()).await;
    assert_eq!(handshakes(&tern, "full"), CLIENTS as f64);
    round(configs).await;
    assert_eq!(
        handshakes(&tern, "resumed"),
        CLIENTS as f64,
        "every client resumed"
    );
    assert_eq!(handshakes(&tern, "full"), CLIENTS as f64);
    tern.stop().expect("clean stop");
}

async fn imap_login(tern: &Tern, password: &str) -> bool {
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    let (mut c, _) = imap::Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("connect");
    let ok = c.login(USER, password).await.expect("login").ok();
    let _ = c.cmd("LOGOUT").await;
    ok
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_stored_at_another_cost_is_hashed_again_at_login() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = |extra: &[(&'static str, &'static str)]| {
        let mut env = vec![
            ("TERN_DEV_ADMIN_TOKEN", TOKEN),
            ("TERN_DEV_PASSWORD", PASSWORD),
            // Every login runs Argon2id.
            ("TERN_SERVER__LOGIN_CACHE_SECONDS", "0"),
        ];
        env.extend_from_slice(extra);
        Tern::start(dir.path(), &["--dev"], &env).expect("tern starts")
    };
    // The demo account is created at OWASP's cheapest configuration...
    let tern = start(&[
        ("TERN_PASSWORDS__MEMORY_KIB", "7168"),
        ("TERN_PASSWORDS__ITERATIONS", "5"),
    ]);
    assert!(imap_login(&tern, PASSWORD).await);
    let stored = "tern_password_rehashes_total{outcome=\"stored\"}";
    assert_eq!(tern.metric(stored), 0.0, "made at the configured cost");
    tern.stop().expect("stop");

    // ...and the node is restarted at the default.
    let tern = start(&[]);
    assert_eq!(tern.metric(stored), 0.0, "exported at 0 from start");
    assert!(
        imap_login(&tern, PASSWORD).await,
        "the old hash still verifies"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while tern.metric(stored) < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the password was not hashed again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tern.wait_for_log("password hashed again", Duration::from_secs(5))
        .expect("logged");
    assert!(imap_login(&tern, PASSWORD).await, "the new hash verifies");
    assert!(!imap_login(&tern, "not-the-password").await);
    assert_eq!(tern.metric(stored), 1.0, "once");
    assert_eq!(
        tern.metric("tern_password_rehashes_total{outcome=\"failed\"}"),
        0.0
    );
    tern.stop().expect("clean stop");
}

#[test]
fn a_cost_below_owasps_minimum_is_refused() {
    let out = tern_tests::check_config(
        "[server]\nhostname = \"mx.example.org\"\n[tls]\nallow_self_signed = true\n\
         [passwords]\nmemory_kib = 4096\niterations = 3\n",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[passwords]: 4096 KiB × 3 iterations is below OWASP's minimum"),
        "{err}"
    );
    assert!(err.contains("19456 KiB × 2"), "{err}");
}

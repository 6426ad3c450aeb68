//! Small edges of the admin side found by probing: the bearer scheme in any case, re-injection
//! of files up to the message size limit (and a clear refusal past it), log lines for bad
//! tokens and refused connections rate-limited, and the generated certificate valid for a year
//! and kept across restarts.

use std::time::Duration;

use tern_tests::{Tern, err, ok, ternctl};

const TOKEN: &str = "edges-token";
const PASSWORD: &str = "demo-password";

fn status_with(tern: &Tern, authorization: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .get(format!("{}/api/v1/domains", tern.url()))
        .header("Authorization", authorization)
        .call()
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_edges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [
        ("TERN_DEV_ADMIN_TOKEN", TOKEN),
        ("TERN_DEV_PASSWORD", PASSWORD),
        ("TERN_SMTP__MAX_MESSAGE_BYTES", "4194304"),
        ("TERN_SMTP__MAX_CONNECTIONS_PER_IP", "2"),
    ];
    let tern = Tern::start(dir.path(), &["--dev"], &env).expect("tern starts");

    for scheme in ["Bearer", "bearer", "BEARER"] {
        assert_eq!(
            status_with(&tern, &format!("{scheme} {TOKEN}")),
            200,
            "{scheme}"
        );
    }
    for _ in 0..20 {
        assert_eq!(status_with(&tern, "Bearer wrong"), 401);
    }

    // Re-injection up to the message size limit (4 MiB here; 2 MiB was the old cap).
    let files = tempfile::tempdir().expect("tempdir");
    let big = files.path().join("big.eml");
    let body = "x".repeat(76) + "\r\n";
    std::fs::write(
        &big,
        format!(
            "From: demo@example.test\r\nSubject: big\r\n\r\n{}",
            body.repeat(3 * 1024 * 1024 / body.len())
        ),
    )
    .expect("file");
    let path = big.to_str().expect("path");
    let out = ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &[
            "queue",
            "inject",
            path,
            "--from",
            "demo@example.test",
            "--to",
            "demo@example.test",
        ],
    ));
    assert!(out.contains("queued as"), "{out}");
    let huge = files.path().join("huge.eml");
    std::fs::write(
        &huge,
        format!("Subject: huge\r\n\r\n{}", "y".repeat(4 * 1024 * 1024 + 1)),
    )
    .expect("file");
    let e = err(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &[
            "queue",
            "inject",
            huge.to_str().expect("path"),
            "--from",
            "demo@example.test",
            "--to",
            "demo@example.test",
        ],
    ));
    assert!(
        e.contains("over the message size limit of 4194304 bytes"),
        "{e}"
    );

    // Refused connections: 20 over the per-IP limit of 2.
    let mut held = Vec::new();
    for _ in 0..22 {
        held.push(std::net::TcpStream::connect(tern.addr("smtp")).expect("connect"));
    }
    // Every refusal is counted after its log line (if any) is written; a session started
    // after the last count logs a line of its own, and once that line is read every line
    // written before it has been read too.
    let refused = "tern_smtp_connections_refused_total{reason=\"per_ip\"}";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tern.metric(refused) < 20.0 {
        assert!(std::time::Instant::now() < deadline, "20 refusals counted");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = |t: &Tern| {
        t.log()
            .iter()
            .filter(|l| l.contains("POP3 session started"))
            .count()
    };
    let before = started(&tern);
    let marker = std::net::TcpStream::connect(tern.addr("pop3")).expect("connect pop3");
    while started(&tern) == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the marker session logged"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(marker);
    let log = tern.log();
    let count = |text: &str| log.iter().filter(|l| l.contains(text)).count();
    assert_eq!(
        count("admin API request with an invalid token"),
        1,
        "one line for 20 bad tokens"
    );
    assert_eq!(
        count("connection refused"),
        1,
        "one line for 20 refused connections"
    );
    drop(held);

    // The generated certificate: a year, and the same after a restart.
    let cert = tern.certificate();
    let pem = std::fs::read(&cert).expect("certificate");
    let end = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl (installed by .ci/run)");
    let end = String::from_utf8_lossy(&end.stdout).to_string();
    let year: i32 = end
        .split_whitespace()
        .nth(3)
        .and_then(|y| y.parse().ok())
        .unwrap_or_else(|| panic!("no year in {end:?}"));
    assert!(
        (2026..=2028).contains(&year),
        "valid for about a year: {end}"
    );
    tern.stop().expect("stop");
    let tern = Tern::start(dir.path(), &["--dev"], &env).expect("tern starts again");
    assert_eq!(
        std::fs::read(tern.certificate()).expect("certificate"),
        pem,
        "reused"
    );
    tern.stop().expect("stop");
}

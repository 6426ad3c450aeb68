//! `ternctl doctor` against a DNS zone the test serves (hickory-server) with one domain set up
//! right and one set up wrong, and a certificate that ends tomorrow: each finding is reported
//! with its severity and fix, a DKIM key that is not published is an error until the record
//! appears, and errors make the command exit non-zero. The node's public addresses are judged
//! as receivers judge them (reverse DNS, SPF evaluated, block lists, including one that refuses
//! the resolver), MTA-STS and TLS-RPT records are checked where published, and `--external`
//! probes each mail port as an outside client does.

use serde_json::Value;
use tern_tests::{
    Tern, certs,
    dns::{self, Rr},
    ok, smtp, ternctl,
};

const TOKEN: &str = "doctor-admin-token";
const PASSWORD: &str = "doctor-password-1";

/// Runs `ternctl --json doctor`: (succeeded, the report).
fn doctor(tern: &Tern) -> (bool, Value) {
    let out = ternctl(&tern.url(), Some(TOKEN), &["--json", "doctor"]);
    let report = serde_json::from_slice(&out.stdout).expect("doctor prints JSON");
    (out.status.success(), report)
}

/// The findings of `check` about `subject`.
fn findings<'a>(report: &'a Value, check: &str, subject: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| {
            f["check"] == check && f["subject"].as_str().is_some_and(|s| s.contains(subject))
        })
        .collect()
}

/// The one finding of `check` about `subject`, which must have `severity`.
fn expect<'a>(report: &'a Value, check: &str, subject: &str, severity: &str) -> &'a Value {
    let found = findings(report, check, subject);
    assert_eq!(
        found.len(),
        1,
        "one {check} finding for {subject}: {report:#}"
    );
    assert_eq!(
        found[0]["severity"], severity,
        "{check} {subject}: {:#}",
        found[0]
    );
    if severity != "ok" {
        assert!(
            !found[0]["fix"].as_str().unwrap_or_default().is_empty(),
            "{check} {subject} says how to fix it"
        );
    }
    found[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_reports_dns_certificate_and_node_findings_with_fixes() {
    let zone = dns::serve(
        "test.",
        &[
            Rr::Mx("example.test.", 10, "mx.example.test."),
            Rr::A("mx.example.test.", [127, 0, 0, 1]),
            Rr::A("mx.example.test.", [192, 0, 2, 5]),
            Rr::Mx("broken.test.", 10, "mx.elsewhere.test."),
            // The public addresses (outside 127/8, which resolvers answer for themselves): 192.0.2.5 reverses to this server, 192.0.2.6 to another
            // name (which resolves back), and is listed on bl.test.
            Rr::Ptr("5.2.0.192.in-addr.arpa.", "mx.example.test."),
            Rr::Ptr("6.2.0.192.in-addr.arpa.", "relay.elsewhere.test."),
            Rr::A("relay.elsewhere.test.", [192, 0, 2, 6]),
            Rr::A("6.2.0.192.bl.test.", [127, 0, 0, 2]),
            Rr::A("5.2.0.192.refusing.test.", [127, 255, 255, 254]),
            Rr::A("mta-sts.example.test.", [127, 0, 0, 1]),
        ],
    )
    .await
    .expect("dns");
    zone.add_txt("6.2.0.192.bl.test.", "listed: see https://bl.test/lookup")
        .await;
    zone.add_txt("_mta-sts.example.test.", "v=STSv1; id=20261205")
        .await;
    zone.add_txt(
        "_smtp._tls.example.test.",
        "v=TLSRPTv1; rua=mailto:tls@example.test",
    )
    .await;
    zone.add_txt("_mta-sts.broken.test.", "v=STSv1; id=not-valid!")
        .await;
    zone.add_txt("_smtp._tls.broken.test.", "v=TLSRPTv1; rua=tls@broken.test")
        .await;
    zone.add_txt("example.test.", "v=spf1 mx -all").await;
    zone.add_txt("_dmarc.example.test.", "v=DMARC1; p=reject")
        .await;
    zone.add_txt("broken.test.", "v=spf1 mx -all").await;
    zone.add_txt("broken.test.", "v=spf1 a ~all").await;

    // A certificate for the host name that ends tomorrow.
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cert, key) = certs::self_signed(tmp.path(), "mx.example.test", 1);

    let dns_addr = zone.addr.to_string();
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_SERVER__HOSTNAME", "mx.example.test"),
            ("TERN_QUEUE__DNS_SERVER", dns_addr.as_str()),
            ("TERN_TLS__CERTIFICATE", cert_s.as_str()),
            ("TERN_TLS__PRIVATE_KEY", key_s.as_str()),
            ("TERN_QUEUE__PUBLIC_ADDRESSES", "192.0.2.5,192.0.2.6"),
            ("TERN_QUEUE__BLOCKLISTS", "bl.test,refusing.test"),
        ],
    );
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["domain", "add", "broken.test"],
    ));
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["dkim", "set", "example.test", "--selector", "s1"],
    ));
    // The demo account at 2 of its 2 messages.
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["account", "quota", "demo@example.test", "--messages", "2"],
    ));
    smtp::deliver(tern.addr("smtp"), "demo@example.test", &["one", "two"])
        .await
        .expect("deliver");

    let (succeeded, report) = doctor(&tern);
    assert!(!succeeded, "errors make doctor exit non-zero");
    assert!(report["errors"].as_u64().unwrap_or(0) >= 2, "{report:#}");

    // The domain set up right.
    expect(&report, "dns.host", "mx.example.test", "ok");
    expect(&report, "dns.mx", "example.test", "ok");
    expect(&report, "dns.spf", "example.test", "ok");
    expect(&report, "dns.dmarc", "example.test", "ok");
    // Its DKIM key is configured but not published.
    let dkim = expect(&report, "dns.dkim", "example.test", "error");
    assert!(
        dkim["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("s1._domainkey.example.test")
    );

    // The domain set up wrong.
    let mx = expect(&report, "dns.mx", "broken.test", "warning");
    assert!(
        mx["message"]
            .as_str()
            .unwrap_or_default()
            .contains("mx.elsewhere.test"),
        "{mx}"
    );
    let spf = expect(&report, "dns.spf", "broken.test", "error");
    assert!(
        spf["message"]
            .as_str()
            .unwrap_or_default()
            .contains("2 SPF records"),
        "{spf}"
    );
    expect(&report, "dns.dmarc", "broken.test", "warning");

    // The certificate: ends within a day, names the host, signed by itself.
    let expiry = expect(&report, "tls.expiry", "cert.pem", "warning");
    assert!(
        expiry["message"]
            .as_str()
            .unwrap_or_default()
            .contains("hours, and has not been renewed"),
        "{expiry}"
    );
    expect(&report, "tls.names", "cert.pem", "ok");
    expect(&report, "tls.issuer", "cert.pem", "warning");

    // The node: store, disk, queue; no cluster findings on a single node.
    expect(&report, "store.health", "embedded", "ok");
    assert_eq!(findings(&report, "disk.space", "").len(), 1);
    let queue = expect(&report, "queue.oldest", "queue", "ok");
    assert_eq!(queue["message"], "no message waits");
    assert!(findings(&report, "cluster.leader", "").is_empty());
    let ports: Vec<(&str, &str)> = findings(&report, "ports.listening", "")
        .iter()
        .filter_map(|f| Some((f["subject"].as_str()?, f["severity"].as_str()?)))
        .collect();
    for key in [
        "smtp",
        "submission",
        "submissions",
        "imap",
        "imaps",
        "pop3",
        "pop3s",
    ] {
        assert!(ports.contains(&(key, "ok")), "{key} listening: {ports:?}");
    }
    let quota = expect(&report, "account.quota", "demo@example.test", "error");
    assert!(
        quota["message"]
            .as_str()
            .unwrap_or_default()
            .contains("uses 2 of its 2 messages (100 %)"),
        "{quota}"
    );

    assert_eq!(
        tern.metric("tern_doctor_findings{severity=\"error\"}"),
        report["errors"].as_f64().expect("errors"),
        "the last run's errors are exported"
    );

    // The public addresses (outside 127/8, which resolvers answer for themselves): reverse DNS, SPF as receivers evaluate it, block lists.
    let message = |f: &Value| f["message"].as_str().unwrap_or_default().to_string();
    expect(&report, "outbound.ptr", "192.0.2.5", "ok");
    let ptr = expect(&report, "outbound.ptr", "192.0.2.6", "warning");
    assert!(message(ptr).contains("relay.elsewhere.test"), "{ptr}");
    expect(&report, "outbound.spf", "example.test from 192.0.2.5", "ok");
    let spf = expect(
        &report,
        "outbound.spf",
        "example.test from 192.0.2.6",
        "error",
    );
    assert!(
        spf["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("ip4:192.0.2.6"),
        "{spf}"
    );
    // broken.test's MX is elsewhere and its SPF allows only its MX (mail-auth reads the first
    // of its two records; dns.spf reports that there are two).
    expect(
        &report,
        "outbound.spf",
        "broken.test from 192.0.2.5",
        "error",
    );
    expect(&report, "outbound.blocklist", "192.0.2.5 on bl.test", "ok");
    let listed = expect(
        &report,
        "outbound.blocklist",
        "192.0.2.6 on bl.test",
        "error",
    );
    assert!(
        message(listed).contains("192.0.2.6") && message(listed).contains("https://bl.test/lookup"),
        "{listed}"
    );
    let refused = expect(
        &report,
        "outbound.blocklist",
        "192.0.2.5 on refusing.test",
        "warning",
    );
    assert!(message(refused).contains("refused to answer"), "{refused}");
    expect(
        &report,
        "outbound.blocklist",
        "192.0.2.6 on refusing.test",
        "ok",
    );

    // MTA-STS and TLS reporting where published.
    expect(&report, "dns.mta_sts", "example.test", "ok");
    expect(&report, "dns.tls_rpt", "example.test", "ok");
    let sts = expect(&report, "dns.mta_sts", "broken.test", "error");
    assert!(message(sts).contains("id="), "{sts}");
    expect(&report, "dns.tls_rpt", "broken.test", "warning");

    // Publishing the DKIM record fixes that finding.
    let show = ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["--json", "dkim", "show", "example.test"],
    ));
    let record: Value = serde_json::from_str(&show).expect("json");
    zone.add_txt(
        "s1._domainkey.example.test.",
        record["dns_txt"].as_str().expect("dns_txt"),
    )
    .await;
    let (_, report) = doctor(&tern);
    expect(&report, "dns.dkim", "example.test", "ok");

    // Without --json: one block per finding, its fix, and a summary line.
    let text = ternctl(&tern.url(), Some(TOKEN), &["doctor"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(!text.status.success());
    assert!(stdout.contains("ERROR    dns.spf"), "{stdout}");
    assert!(stdout.contains("fix: merge them into one"), "{stdout}");
    assert!(stdout.contains(" passed"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&text.stderr).contains("error"),
        "the exit says why"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn external_probes_see_each_port_as_a_client_outside_does() {
    let (_dir, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    let ca = tern.certificate().display().to_string();
    let mut args = vec![
        "--json".to_string(),
        "doctor".into(),
        "--external".into(),
        "localhost".into(),
        "--ca".into(),
        ca.clone(),
    ];
    for key in [
        "smtp",
        "submission",
        "submissions",
        "imap",
        "imaps",
        "pop3",
        "pop3s",
    ] {
        args.extend(["--port".into(), format!("{key}={}", tern.addr(key).port())]);
    }
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ternctl(&tern.url(), Some(TOKEN), &args);
        let report: Value = serde_json::from_slice(&out.stdout).expect("doctor prints JSON");
        (out.status.success(), report)
    };
    let (_, report) = run(&args);
    for key in [
        "smtp",
        "submission",
        "submissions",
        "imap",
        "imaps",
        "pop3",
        "pop3s",
    ] {
        let subject = format!("localhost:{} ({key})", tern.addr(key).port());
        let f = expect(&report, "external.port", &subject, "ok");
        let tls = ["submissions", "imaps", "pop3s"].contains(&key);
        assert_eq!(
            f["message"]
                .as_str()
                .unwrap_or_default()
                .contains("TLS certificate trusted"),
            tls,
            "{f}"
        );
    }

    // Without the CA the self-signed certificate is not trusted; a closed port is unreachable.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut args: Vec<String> = args
        .into_iter()
        .filter(|a| *a != "--ca" && *a != ca)
        .collect();
    args.extend(["--port".into(), format!("pop3={closed}")]);
    let (succeeded, report) = run(&args);
    assert!(!succeeded, "errors make doctor exit non-zero");
    let imaps = format!("localhost:{} (imaps)", tern.addr("imaps").port());
    let untrusted = expect(&report, "external.port", &imaps, "error");
    assert!(
        untrusted["message"]
            .as_str()
            .unwrap_or_default()
            .contains("TLS with localhost failed"),
        "{untrusted}"
    );
    let pop3 = expect(
        &report,
        "external.port",
        &format!("localhost:{closed} (pop3)"),
        "error",
    );
    assert!(
        pop3["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no connection"),
        "{pop3}"
    );
    expect(
        &report,
        "external.port",
        &format!("localhost:{} (imap)", tern.addr("imap").port()),
        "ok",
    );
}

//! The inbound policy checks (`[smtp.checks]`) on a running server: the IP deny list refuses a
//! client at connect with `554 5.7.1` naming its address and the list entry, then takes only
//! QUIT (RFC 5321 §3.1); the allow list wins over the deny list; DNS lists (against a DNS
//! server the test runs) add their weights, name themselves and their listing page, and a list
//! that refuses our queries (127.255.255.x) never counts; rate limits refuse the connection,
//! message or recipient past their limit with `421 4.7.0` / `451 4.7.1` naming the rule;
//! verdicts and lookups are counted; an unknown check name fails `check-config` with the names
//! it knows.

use tern_tests::{
    Tern, check_config,
    dns::{self, Rr},
    smtp::Client,
};

const TOKEN: &str = "checks-token";
const PASSWORD: &str = "demo-password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deny_list_refuses_at_connect_and_takes_only_quit() {
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[(
            "TERN_SMTP__CHECKS__IP_LISTS__DENY",
            "127.0.0.0/8,2001:db8::/32",
        )],
    );
    let rejected =
        "tern_smtp_check_verdicts_total{check=\"ip_lists\",stage=\"connect\",verdict=\"reject\"}";
    assert_eq!(tern.metric(rejected), 0.0, "exported at 0 from start");
    let (mut c, greeting) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("connect");
    assert_eq!(greeting.code, 554, "{}", greeting.text);
    assert!(
        greeting.text.starts_with("554 5.7.1 127.0.0.1 is refused")
            && greeting.text.contains("deny list entry 127.0.0.0/8"),
        "{}",
        greeting.text
    );
    let r = c.cmd("EHLO client.test").await.expect("ehlo");
    assert_eq!(r.code, 503, "{}", r.text);
    let r = c.cmd("MAIL FROM:<a@remote.test>").await.expect("mail");
    assert_eq!(r.code, 503, "{}", r.text);
    c.expect("QUIT", 221).await.expect("quit");
    assert_eq!(tern.metric(rejected), 1.0);
    // The submission listeners run the same list by default.
    let (_, greeting) = Client::connect(tern.addr("submission"), None)
        .await
        .expect("connect");
    assert_eq!(greeting.code, 554, "{}", greeting.text);
    tern.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_wins_and_a_listener_without_the_check_is_open() {
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_SMTP__CHECKS__IP_LISTS__DENY", "127.0.0.0/8"),
            ("TERN_SMTP__CHECKS__IP_LISTS__ALLOW", "127.0.0.1"),
        ],
    );
    let (mut c, greeting) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("connect");
    assert_eq!(greeting.code, 220, "{}", greeting.text);
    c.expect("EHLO client.test", 250).await.expect("ehlo");
    c.expect("QUIT", 221).await.expect("quit");
    let allowed =
        "tern_smtp_check_verdicts_total{check=\"ip_lists\",stage=\"connect\",verdict=\"allow\"}";
    assert_eq!(tern.metric(allowed), 1.0);
    tern.stop().expect("clean stop");

    // Denied, but submission runs no checks here.
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_SMTP__CHECKS__IP_LISTS__DENY", "127.0.0.0/8"),
            ("TERN_SMTP__CHECKS__SUBMISSION", ""),
        ],
    );
    let (_, greeting) = Client::connect(tern.addr("submission"), None)
        .await
        .expect("connect");
    assert_eq!(greeting.code, 220, "{}", greeting.text);
    let (_, greeting) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("connect");
    assert_eq!(greeting.code, 554, "{}", greeting.text);
    tern.stop().expect("clean stop");
}

#[test]
fn unknown_checks_and_networks_are_refused_by_name() {
    for (section, want) in [
        (
            "[smtp.checks]\nmx = [\"ip_lists\", \"frobnicate\"]\n",
            "smtp.checks.mx: \"frobnicate\" is not a check (known: ip_lists, dnsbl, auth, rate_limits, antivirus, score)",
        ),
        (
            "[smtp.checks]\nmx = [\"dnsbl\"]\n",
            "the dnsbl check is on but smtp.checks.dnsbl.lists is empty",
        ),
        (
            "[smtp.checks]\nsubmission = [\"dnsbl\"]\n[smtp.checks.dnsbl]\nlists = [\"zen.test\"]\n",
            "smtp.checks.submission: \"dnsbl\" is for the MX listener only",
        ),
        (
            "[smtp.checks.dnsbl]\nlists = [\"zen.test*two\"]\n",
            "smtp.checks.dnsbl.lists: \"zen.test*two\" has a weight that is not a whole number",
        ),
        (
            "[smtp.checks.dnsbl]\nlists = [\"zen.test ftp://x\"]\n",
            "has a listing page that is not an http(s) URL",
        ),
        (
            "[smtp.checks]\nmx = [\"antivirus\"]\n",
            "the antivirus check is on but smtp.checks.antivirus.clamd is not set",
        ),
        (
            "[smtp.checks.antivirus]\nclamd = \"clamd-host\"\n",
            "smtp.checks.antivirus.clamd: \"clamd-host\" is neither host:port nor the path of a unix socket",
        ),
        (
            "[smtp.checks.antivirus]\nclamd = \"127.0.0.1:3310\"\non_failure = \"ignore\"\n",
            "smtp.checks.antivirus.on_failure: \"ignore\" (expected \"tempfail\" or \"accept\")",
        ),
        (
            "[smtp.checks]\nmx = [\"rate_limits\"]\n",
            "the rate_limits check is on but smtp.checks.rate_limits.rules is empty",
        ),
        (
            "[smtp.checks.rate_limits]\nrules = [\"sender connections 5/1m\"]\n",
            "smtp.checks.rate_limits.rules: \"sender connections 5/1m\" counts connections, which only ip and net can be counted per",
        ),
        (
            "[smtp.checks]\nsubmission = [\"auth\"]\n",
            "smtp.checks.submission: \"auth\" is for the MX listener only",
        ),
        (
            "[smtp.checks.auth]\ndmarc = \"strict\"\n",
            "smtp.checks.auth.dmarc: \"strict\" is not a DMARC mode (expected \"enforce\", \"quarantine\" or \"report\")",
        ),
        (
            "[smtp.checks.auth.dmarc_domains]\n\"Example.org\" = \"off\"\n",
            "smtp.checks.auth.dmarc_domains.example.org: \"off\" is not a DMARC mode",
        ),
        (
            "[smtp.checks.auth]\nauthserv_id = \"mx example\"\n",
            "smtp.checks.auth.authserv_id: \"mx example\" is not a single token",
        ),
        (
            "[smtp.checks.ip_lists]\ndeny = [\"10.0.0.0/33\"]\n",
            "smtp.checks.ip_lists.deny: \"10.0.0.0/33\" is not a network",
        ),
    ] {
        let out = check_config(&format!(
            "[server]\nhostname = \"mx.example.org\"\n[tls]\nallow_self_signed = true\n{section}"
        ));
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_lists_add_their_weights_and_a_refusing_list_never_counts() {
    let zone = dns::serve(
        "test.",
        &[
            Rr::A("1.0.0.127.zen.test.", [127, 0, 0, 2]),
            Rr::A("1.0.0.127.small.test.", [127, 0, 0, 4]),
            Rr::A("1.0.0.127.refuses.test.", [127, 255, 255, 254]),
        ],
    )
    .await
    .expect("dns");
    let server = zone.addr.to_string();
    let lists = "zen.test*2 https://lists.test/?ip={ip},small.test,refuses.test*9,absent.test*9";
    for (threshold, code) in [("3", 554), ("4", 220)] {
        let (_dir, tern) = Tern::dev(
            TOKEN,
            PASSWORD,
            &[
                ("TERN_QUEUE__DNS_SERVER", server.as_str()),
                ("TERN_SMTP__CHECKS__MX", "ip_lists,dnsbl"),
                ("TERN_SMTP__CHECKS__DNSBL__LISTS", lists),
                ("TERN_SMTP__CHECKS__DNSBL__THRESHOLD", threshold),
            ],
        );
        let (mut c, greeting) = Client::connect(tern.addr("smtp"), None)
            .await
            .expect("connect");
        // zen (2) and small (1) list 127.0.0.1: 3. The list refusing us and the one without
        // the address add nothing.
        assert_eq!(
            greeting.code, code,
            "threshold {threshold}: {}",
            greeting.text
        );
        if code == 554 {
            assert_eq!(
                greeting.text,
                "554 5.7.1 127.0.0.1 is blocked: listed by zen.test \
                 (https://lists.test/?ip=127.0.0.1), small.test"
            );
        }
        c.expect("QUIT", 221).await.expect("quit");
        let lookups = |list: &str, result: &str| {
            tern.metric(&format!(
                "tern_dnsbl_lookups_total{{list=\"{list}\",result=\"{result}\"}}"
            ))
        };
        assert_eq!(lookups("zen.test", "listed"), 1.0);
        assert_eq!(lookups("refuses.test", "refused"), 1.0);
        assert_eq!(lookups("absent.test", "clean"), 1.0);
        assert_eq!(lookups("absent.test", "timeout"), 0.0);
        tern.stop().expect("clean stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_does_not_answer_in_time_counts_as_not_listing() {
    // A DNS server that never answers.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = silent.local_addr().expect("addr").to_string();
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_QUEUE__DNS_SERVER", server.as_str()),
            ("TERN_SMTP__CHECKS__MX", "dnsbl"),
            ("TERN_SMTP__CHECKS__DNSBL__LISTS", "slow.test*5"),
            ("TERN_SMTP__CHECKS__DNSBL__TIMEOUT_MS", "300"),
        ],
    );
    let (mut c, greeting) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("connect");
    assert_eq!(greeting.code, 220, "{}", greeting.text);
    c.expect("QUIT", 221).await.expect("quit");
    assert_eq!(
        tern.metric("tern_dnsbl_lookups_total{list=\"slow.test\",result=\"timeout\"}"),
        1.0
    );
    drop(silent);
    tern.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_refuse_what_passes_them_naming_the_rule() {
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_SMTP__CHECKS__MX", "ip_lists,rate_limits"),
            (
                "TERN_SMTP__CHECKS__RATE_LIMITS__RULES",
                "ip connections 3/1h,sender messages 2/1h,recipient messages 3/1h",
            ),
        ],
    );
    let limited = |rule: &str| tern.metric(&format!("tern_rate_limited_total{{limit=\"{rule}\"}}"));
    assert_eq!(
        limited("ip connections 3/1h"),
        0.0,
        "exported at 0 from start"
    );
    let (mut c, greeting) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("connect");
    assert_eq!(greeting.code, 220, "{}", greeting.text);
    c.expect("EHLO client.test", 250).await.expect("ehlo");
    // Two messages from one sender, the third refused.
    for _ in 0..2 {
        c.expect("MAIL FROM:<a@remote.test>", 250)
            .await
            .expect("mail");
        c.expect("RSET", 250).await.expect("rset");
    }
    let r = c.cmd("MAIL FROM:<A@remote.test>").await.expect("mail");
    assert_eq!(
        r.text,
        "451 4.7.1 <a@remote.test> reached the rate limit \"sender messages 2/1h\"; try again later"
    );
    // Three messages to one recipient, whoever sends them; the fourth refused.
    for sender in ["b", "c", "d"] {
        c.expect(&format!("MAIL FROM:<{sender}@remote.test>"), 250)
            .await
            .expect("mail");
        c.expect("RCPT TO:<demo@example.test>", 250)
            .await
            .expect("rcpt");
        c.expect("RSET", 250).await.expect("rset");
    }
    c.expect("MAIL FROM:<e@remote.test>", 250)
        .await
        .expect("mail");
    let r = c.cmd("RCPT TO:<demo@example.test>").await.expect("rcpt");
    assert_eq!(
        r.text,
        "451 4.7.1 <demo@example.test> reached the rate limit \"recipient messages 3/1h\"; try again later"
    );
    c.expect("QUIT", 221).await.expect("quit");
    // Three connections from this address, the fourth refused and closed.
    for _ in 0..2 {
        let (mut c, greeting) = Client::connect(tern.addr("smtp"), None)
            .await
            .expect("connect");
        assert_eq!(greeting.code, 220, "{}", greeting.text);
        c.expect("QUIT", 221).await.expect("quit");
    }
    let (mut c, greeting) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("connect");
    assert_eq!(
        greeting.text,
        "421 4.7.0 127.0.0.1 reached the rate limit \"ip connections 3/1h\"; try again later"
    );
    assert!(c.closed().await, "the session ends after 421");
    assert_eq!(limited("ip connections 3/1h"), 1.0);
    assert_eq!(limited("sender messages 2/1h"), 1.0);
    assert_eq!(limited("recipient messages 3/1h"), 1.0);
    tern.stop().expect("clean stop");
}

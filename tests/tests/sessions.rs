//! Live sessions and connections, as an operator sees them with `ternctl`: `sessions list`
//! shows an IMAP session in IDLE, a POP3 session and an SMTP session with their accounts,
//! listeners, TLS, state and bytes (filters by protocol, account and address); `sessions kick`
//! ends each with its protocol's goodbye (`* BYE`, `-ERR`, `421`), by id or every session of an
//! account, and an unknown id is refused; `queue connections` shows the outbound connection a
//! delivery holds open with the message it is sending. In a cluster, any node lists and kicks
//! the sessions of the others, and the doctor compares the members' clocks.

use std::time::{Duration, Instant};

use serde_json::Value;
use tern_tests::{
    Tern,
    cluster::{self, Scene},
    err, imap, ok, outbound, pop3, smtp, ternctl,
};

const TOKEN: &str = "sessions-admin-token";

/// Waits up to `secs` for `check`, polling every 100 ms.
async fn until(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `ternctl --json sessions list` with `args`, on `tern` with `token`.
fn sessions(tern: &Tern, token: &str, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--json", "sessions", "list"];
    all.extend(args);
    let out = ok(&ternctl(&tern.url(), Some(token), &all));
    serde_json::from_str::<Value>(&out)
        .expect("json")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The one session of `protocol` in `list`.
fn one<'a>(list: &'a [Value], protocol: &str) -> &'a Value {
    let found: Vec<&Value> = list.iter().filter(|s| s["protocol"] == protocol).collect();
    assert_eq!(found.len(), 1, "one {protocol} session: {list:?}");
    found[0]
}

/// An IMAP session of demo on `tern`'s 993 that is in IDLE on INBOX.
async fn idling(tern: &Tern, password: &str) -> imap::Client {
    let mut c = imap::session(tern, "demo@example.test", password).await;
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    c.send(b"i1 IDLE\r\n").await.expect("idle");
    let cont = c.line().await.expect("continuation");
    assert!(cont.starts_with('+'), "{cont}");
    c
}

/// The line the server says before it closes, then the close.
async fn last_words_imap(c: &mut imap::Client) -> String {
    let bye = tokio::time::timeout(Duration::from_secs(10), c.line())
        .await
        .expect("BYE in time")
        .expect("a BYE line");
    let after = tokio::time::timeout(Duration::from_secs(10), c.line())
        .await
        .expect("close in time");
    assert!(after.is_err(), "closed after BYE: {after:?}");
    bye
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_list_and_kick_sessions_and_see_outbound_connections() {
    let world = outbound::world(TOKEN).await;
    let tern = &world.tern;

    // Mail to a recipient whose MX never answers RCPT: the queue holds that connection open.
    outbound::submit(
        tern,
        "demo@example.test",
        &["stall@remote.test"],
        "held open",
    )
    .await;

    let mut imap = idling(tern, outbound::PASSWORD).await;
    // POP3 on 110 after STLS: the list shows TLS on once the session upgraded.
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    let (pop, _) = pop3::Client::connect(tern.addr("pop3"), None)
        .await
        .expect("pop3");
    let mut pop = pop.stls(&tls).await.expect("stls");
    assert!(
        pop.login("demo@example.test", outbound::PASSWORD)
            .await
            .expect("login")
            .starts_with("+OK")
    );
    let (mut mx, _) = smtp::Client::connect(tern.addr("smtp"), None)
        .await
        .expect("smtp");
    mx.expect("EHLO client.example", 250).await.expect("ehlo");

    // The list: each session with its account, listener, TLS and state.
    let mut list = Vec::new();
    until(20, "the three sessions in their states", || {
        list = sessions(tern, TOKEN, &[]);
        list.iter().any(|s| s["state"] == "idle INBOX")
            && list
                .iter()
                .any(|s| s["protocol"] == "pop3" && s["state"] == "transaction")
            && list
                .iter()
                .any(|s| s["protocol"] == "smtp" && s["state"] == "ready")
    })
    .await;
    let i = one(&list, "imap");
    assert_eq!(i["account"], "demo@example.test", "{i}");
    assert_eq!((&i["listener"], &i["tls"]), (&"imaps".into(), &true.into()));
    assert_eq!(i["node"], 1);
    assert!(i["bytes_in"].as_u64() > Some(0) && i["bytes_out"].as_u64() > Some(0));
    let p = one(&list, "pop3");
    assert_eq!(p["account"], "demo@example.test", "{p}");
    assert_eq!((&p["listener"], &p["tls"]), (&"pop3".into(), &true.into()));
    assert!(
        p["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("127.0.0.1:"))
    );
    let s = one(&list, "smtp");
    assert_eq!(
        (&s["listener"], &s["account"]),
        (&"smtp".into(), &Value::Null)
    );
    assert_eq!(s["tls"], false);

    // Filters.
    let pops = sessions(tern, TOKEN, &["--protocol", "pop3"]);
    assert!(pops.len() == 1 && pops[0]["protocol"] == "pop3", "{pops:?}");
    let demo = sessions(tern, TOKEN, &["--account", "DEMO@example.test"]);
    assert_eq!(demo.len(), 2, "IMAP and POP3 are demo's: {demo:?}");
    assert!(sessions(tern, TOKEN, &["--ip", "127.0.0.9"]).is_empty());
    let table = ok(&ternctl(&tern.url(), Some(TOKEN), &["sessions", "list"]));
    assert!(
        table.contains("idle INBOX") && table.contains("imaps"),
        "{table}"
    );
    let refused = err(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["sessions", "list", "--protocol", "nntp"],
    ));
    assert!(refused.contains("not smtp, imap or pop3"), "{refused}");

    // The outbound connection the stalled delivery holds.
    let mut conns = Vec::new();
    until(20, "the outbound connection sending the message", || {
        let out = ok(&ternctl(
            &tern.url(),
            Some(TOKEN),
            &["--json", "queue", "connections"],
        ));
        conns = serde_json::from_str::<Value>(&out)
            .expect("json")
            .as_array()
            .cloned()
            .unwrap_or_default();
        conns.iter().any(|c| c["sending"].is_string())
    })
    .await;
    let c = &conns[0];
    assert_eq!(
        (&c["domain"], &c["host"]),
        (&"remote.test".into(), &"mx1.remote.test".into())
    );
    assert!(
        c["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.2:")),
        "{c}"
    );
    let queued = tern.api(TOKEN, "/queue").expect("queue");
    assert_eq!(c["sending"], queued["entries"][0]["id"], "{c} / {queued}");
    let table = ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["queue", "connections"],
    ));
    assert!(table.contains("mx1.remote.test"), "{table}");

    // Kick by id: IMAP in IDLE says BYE and closes.
    let id = i["id"].as_str().expect("id");
    let kicked = ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["sessions", "kick", id],
    ));
    assert!(kicked.contains("1 session(s) ended"), "{kicked}");
    let bye = last_words_imap(&mut imap).await;
    assert_eq!(bye, "* BYE session ended by the administrator");

    // Kick by account: POP3 gets -ERR and the connection closes.
    until(10, "the kicked IMAP session gone from the list", || {
        sessions(tern, TOKEN, &["--protocol", "imap"]).is_empty()
    })
    .await;
    let out = ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &[
            "--json",
            "sessions",
            "kick",
            "--account",
            "demo@example.test",
        ],
    ));
    let gone: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(gone.as_array().map(Vec::len), Some(1), "{gone}");
    assert_eq!(gone[0]["protocol"], "pop3");
    let line = tokio::time::timeout(Duration::from_secs(10), pop.line())
        .await
        .expect("in time")
        .expect("a line");
    assert_eq!(line, "-ERR Session ended by the administrator");
    assert!(pop.closed().await);

    // SMTP: 421 4.7.0.
    let id = s["id"].as_str().expect("id");
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["sessions", "kick", id],
    ));
    let reply = tokio::time::timeout(Duration::from_secs(10), mx.read())
        .await
        .expect("in time")
        .expect("reply");
    assert_eq!(reply.code, 421, "{reply:?}");
    assert!(reply.text.contains("4.7.0"), "{reply:?}");
    assert!(mx.closed().await);

    // An id no node knows.
    let unknown = err(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["sessions", "kick", "0123456789abcdef"],
    ));
    assert!(unknown.contains("no session 0123456789abcdef"), "{unknown}");
    for protocol in ["imap", "pop3", "smtp"] {
        assert_eq!(
            tern.metric(&format!(
                "tern_sessions_kicked_total{{protocol=\"{protocol}\"}}"
            )),
            1.0,
            "{protocol}"
        );
    }
    until(10, "no client session left", || {
        sessions(tern, TOKEN, &[]).is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn any_member_lists_and_kicks_the_sessions_of_another() {
    let scene = Scene::new(2);
    let (pg, certs, dirs) = (&scene.pg, &scene.certs, &scene.dirs);
    let n1 = cluster::start(pg, dirs[0].path(), certs, 1, None);
    let join = n1.addr("cluster").to_string();
    let n2 = cluster::start(pg, dirs[1].path(), certs, 2, Some(&join));
    cluster::wait(&n1, 60, "two members", |s| cluster::balanced(s, &[1, 2]));

    let mut c = idling(&n2, cluster::PASSWORD).await;
    let mut list = Vec::new();
    until(20, "node 2's IDLE session seen from node 1", || {
        list = sessions(&n1, cluster::TOKEN, &[]);
        list.iter().any(|s| s["state"] == "idle INBOX")
    })
    .await;
    let s = one(&list, "imap");
    assert_eq!(
        (&s["node"], &s["account"]),
        (&2.into(), &"demo@example.test".into())
    );

    let out = ok(&ternctl(
        &n1.url(),
        Some(cluster::TOKEN),
        &["sessions", "kick", "--account", "demo@example.test"],
    ));
    assert!(out.contains("1 session(s) ended"), "{out}");
    let bye = last_words_imap(&mut c).await;
    assert_eq!(bye, "* BYE session ended by the administrator");
    assert_eq!(
        n2.metric("tern_sessions_kicked_total{protocol=\"imap\"}"),
        1.0
    );

    // The doctor compares the members' clocks over the same port.
    let out = ternctl(&n1.url(), Some(cluster::TOKEN), &["--json", "doctor"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("doctor prints JSON");
    let clock: Vec<&Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check"] == "cluster.clock")
        .collect();
    assert_eq!(clock.len(), 1, "{report:#}");
    assert_eq!(
        (&clock[0]["subject"], &clock[0]["severity"]),
        (&"node 2".into(), &"ok".into())
    );
}

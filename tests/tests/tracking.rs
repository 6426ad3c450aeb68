//! Message tracking: one message to two remote recipients, one deferred then delivered on the
//! retry, one refused for good and bounced, followed with `ternctl trace` by its Message-ID and
//! by an address — acceptance (client, listener, reply), queue entry, both attempts with the
//! remote replies, and the bounce with its DSN id, in order.

use serde_json::Value;
use tern_tests::{
    ok,
    outbound::{self, world},
    ternctl,
};

const TOKEN: &str = "tracking-admin-token";

/// `ternctl --json trace <q>`: the events.
fn trace(w: &outbound::World, q: &str) -> Vec<Value> {
    let out = ok(&ternctl(
        &w.tern.url(),
        Some(TOKEN),
        &["--json", "trace", q],
    ));
    let v: Value = serde_json::from_str(&out).expect("json");
    v["events"].as_array().cloned().unwrap_or_default()
}

fn details(events: &[Value], kind: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["detail"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_is_traced_through_acceptance_a_deferral_a_retry_and_a_bounce() {
    let w = world(TOKEN).await;
    outbound::submit(
        &w.tern,
        "demo@example.test",
        &["later1@remote.test", "unknown1@remote.test"],
        "trace-me",
    )
    .await;
    w.mx1
        .wait_for("later1@remote.test", 30)
        .await
        .expect("delivered on the retry");
    // The second attempt's event is committed with its outcome: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let events = loop {
        let events = trace(&w, "<trace-me@test>");
        if details(&events, "attempt").len() >= 2 {
            break events;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "two attempts traced: {events:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    let at = |kind: &str| kinds.iter().position(|k| *k == kind).unwrap_or(usize::MAX);
    assert!(at("accepted") < at("queued"), "{kinds:?}");
    assert!(at("queued") < at("attempt"), "{kinds:?}");
    assert!(at("attempt") < at("bounced"), "{kinds:?}");

    let accepted = details(&events, "accepted");
    assert_eq!(accepted.len(), 1, "{events:#?}");
    assert!(
        accepted[0].contains("on submission, authenticated as demo@example.test"),
        "{}",
        accepted[0]
    );
    assert!(accepted[0].contains("250 2.0.0"), "{}", accepted[0]);
    assert!(details(&events, "queued")[0].contains("queued for remote.test"));

    let attempts = details(&events, "attempt");
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    assert!(attempts[0].contains("attempt 1 at"), "{}", attempts[0]);
    assert!(
        attempts[0].contains("later1@remote.test: deferred (451"),
        "{}",
        attempts[0]
    );
    assert!(
        attempts[0].contains("unknown1@remote.test: failed (550"),
        "{}",
        attempts[0]
    );
    assert!(attempts[1].contains("attempt 2 at"), "{}", attempts[1]);
    assert!(
        attempts[1].contains("later1@remote.test: delivered (250"),
        "{}",
        attempts[1]
    );

    let bounced = details(&events, "bounced");
    assert_eq!(bounced.len(), 1, "{events:#?}");
    assert!(bounced[0].contains("failure notice (DSN"), "{}", bounced[0]);
    assert!(
        bounced[0].contains("sent to demo@example.test"),
        "{}",
        bounced[0]
    );
    assert!(events.iter().all(|e| e["node"] == "node-1"), "{events:#?}");

    // By an address: the refused recipient's attempt is found.
    let by_address = trace(&w, "unknown1@remote.test");
    assert!(
        details(&by_address, "attempt")
            .iter()
            .any(|d| d.contains("unknown1@remote.test: failed")),
        "{by_address:#?}"
    );
    // Without --json: a line per event with its detail.
    let text = ok(&ternctl(
        &w.tern.url(),
        Some(TOKEN),
        &["trace", "trace-me@test", "--since", "1h"],
    ));
    assert!(
        text.contains("accepted") && text.contains("bounced"),
        "{text}"
    );
    assert!(text.contains("    attempt 2 at"), "{text}");
    let none = ok(&ternctl(
        &w.tern.url(),
        Some(TOKEN),
        &["trace", "nobody@nowhere.test"],
    ));
    assert!(none.contains("nothing recorded"), "{none}");
}

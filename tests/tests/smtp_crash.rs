//! Durability under kill -9: 16 connections send up to 2 000 numbered messages while the server
//! is killed with SIGKILL at a random moment. After a restart, every message that got `250` is
//! in the mailbox exactly once, every stored message is whole, and the counters agree with what
//! is stored (nothing half-written).

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rand::Rng;
use tern_tests::{
    Tern,
    smtp::{Client, message},
    store::dump_mailbox,
};

const TOKEN: &str = "crash-token";
const TOTAL: u64 = 2000;
const CONNECTIONS: usize = 16;

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TERN_DEV_ADMIN_TOKEN", TOKEN),
        ("TERN_DEV_PASSWORD", "demo-password"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_mail_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tern = Tern::start(dir.path(), &["--dev"], &env()).expect("tern starts");
    let addr = tern.addr("smtp");
    let next = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
    let kill_at = rand::rng().random_range(200..1500usize);
    let senders: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (next, acked) = (next.clone(), acked.clone());
            tokio::spawn(async move {
                let Ok((mut c, _)) = Client::connect(addr, None).await else {
                    return;
                };
                if c.expect("EHLO crash.test", 250).await.is_err() {
                    return;
                }
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= TOTAL {
                        let _ = c.cmd("QUIT").await;
                        return;
                    }
                    let body = format!("X-Seq: {n}\r\n\r\n{}\r\nEND-{n}", "payload ".repeat(64));
                    let sent = async {
                        c.expect("MAIL FROM:<load@remote.test>", 250).await?;
                        c.expect("RCPT TO:<demo@example.test>", 250).await?;
                        c.data(&message(
                            "load@remote.test",
                            "demo@example.test",
                            &format!("seq-{n}"),
                            &body,
                        ))
                        .await
                    };
                    match sent.await {
                        Ok(r) if r.code == 250 => acked.lock().expect("acked").push(n),
                        // Killed mid-transaction: this message was never acknowledged.
                        _ => return,
                    }
                }
            })
        })
        .collect();
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let n = acked.lock().expect("acked").len();
        if n >= kill_at || senders.iter().all(|s| s.is_finished()) {
            break;
        }
    }
    tern.kill();
    for s in senders {
        let _ = s.await;
    }
    let acked = acked.lock().expect("acked").clone();
    println!(
        "killed after {} acknowledged messages (target {kill_at})",
        acked.len()
    );
    assert!(
        acked.len() >= kill_at.min(TOTAL as usize),
        "the load ran before the kill"
    );

    // Restart on the same data: the store recovers and serves.
    let tern = Tern::start(dir.path(), &["--dev"], &env()).expect("tern restarts after kill -9");
    let served = tern
        .mailbox_count(TOKEN, "demo@example.test", "INBOX")
        .expect("inbox after restart");
    tern.stop().expect("stop");

    let data = dir.path().join("data");
    let dump =
        tokio::task::spawn_blocking(move || dump_mailbox(&data, "demo@example.test", "INBOX"))
            .await
            .expect("join")
            .expect("dump");
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    for body in &dump.bodies {
        let text = String::from_utf8_lossy(body);
        let n: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Seq: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("stored message without its sequence number: {text}"));
        assert!(
            text.trim_end().ends_with(&format!("END-{n}")),
            "message {n} stored whole"
        );
        *seen.entry(n).or_default() += 1;
    }
    let missing: Vec<u64> = acked
        .iter()
        .filter(|n| !seen.contains_key(n))
        .copied()
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let doubled: Vec<u64> = seen
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .collect();
    assert!(doubled.is_empty(), "stored twice: {doubled:?}");
    assert_eq!(
        dump.counted_messages as usize,
        dump.bodies.len(),
        "message counter matches the messages"
    );
    assert_eq!(
        served as usize,
        dump.bodies.len(),
        "what the restarted server reported"
    );
    let bytes: i64 = dump.bodies.iter().map(|b| b.len() as i64).sum();
    assert_eq!(dump.counted_bytes, bytes, "byte counter matches");
    assert_eq!(dump.usage_bytes, bytes, "quota usage matches");
    println!(
        "stored {} messages: {} acknowledged, {} committed without their 250 reaching the client",
        seen.len(),
        acked.len(),
        seen.len() - acked.len()
    );
}

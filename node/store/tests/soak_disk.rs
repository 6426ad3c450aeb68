//! Soak: expunge-heavy churn on the embedded store. Mail is appended and expunged round after
//! round while blobs are collected; the data directory's size (the `tern_store_disk_bytes`
//! metric) must level off instead of growing with the bytes ever written.
//! `TERN_SOAK_ROUNDS` makes it longer.

use tern_proto::Secret;
use tern_store::{
    Db, EmbeddedStore, blob,
    model::{
        AddressPolicy, Directory, Flags, NewAccount, Summary,
        message::{self, NewMessage},
    },
    reclaim,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_use_stays_bounded_under_expunge_churn() {
    let rounds: usize = std::env::var("TERN_SOAK_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Db::new(EmbeddedStore::open(tmp.path()).expect("open"));
    let dir = Directory::new(db.clone(), AddressPolicy::default());
    dir.add_domain("soak.test").await.expect("domain");
    let account = dir
        .add_account(NewAccount {
            address: "churn@soak.test".into(),
            password: Secret::new("soak-password".into()),
            ..Default::default()
        })
        .await
        .expect("account");
    let inbox = dir
        .mailbox(account.id, "INBOX")
        .await
        .expect("lookup")
        .expect("inbox")
        .id;

    const PER_ROUND: usize = 150;
    const BODY: usize = 32 * 1024;
    let mut written = 0u64;
    let mut samples = Vec::new();
    for round in 0..rounds {
        for i in 0..PER_ROUND {
            // Every body differs, so nothing deduplicates.
            let mut raw = format!("Subject: round {round} message {i}\r\n\r\n").into_bytes();
            raw.resize(BODY, b'a' + (i % 26) as u8);
            raw.extend_from_slice(format!("{round}-{i}\r\n").as_bytes());
            let summary = Summary::parse(&raw);
            let staged = blob::stage(&db, &raw).await.expect("stage");
            let (staged, summary) = (&staged, &summary);
            db.run(|tx| async move {
                let new = NewMessage {
                    body: staged,
                    summary: Some(summary),
                    flags: Flags::default(),
                    keywords: vec![],
                    internal_date: 0,
                };
                message::append(&tx, account.id, inbox, &new)
                    .await
                    .map(|_| ())
            })
            .await
            .expect("append");
            written += raw.len() as u64;
        }
        db.run(|tx| async move {
            let all = message::list(&tx, inbox, 1, None).await?;
            let uids: Vec<u32> = all.iter().map(|m| m.uid).collect();
            message::expunge(&tx, account.id, inbox, &uids)
                .await
                .map(|_| ())
        })
        .await
        .expect("expunge");
        let stats = reclaim::collect_garbage(&db, blob::PENDING_TTL)
            .await
            .expect("gc");
        assert_eq!(stats.blobs, PER_ROUND, "every expunged body is collected");
        let used = db.disk_usage().expect("embedded reports disk use");
        samples.push(used);
        println!(
            "round {round:>3}: written {:>6} MiB, disk {:>6.1} MiB",
            written >> 20,
            used as f64 / 1048576.0
        );
    }
    if std::env::var("TERN_SOAK_LIST").is_ok() {
        let _ = std::process::Command::new("find")
            .arg(tmp.path())
            .arg("-type")
            .arg("f")
            .arg("-size")
            .arg("+100k")
            .arg("-exec")
            .arg("ls")
            .arg("-la")
            .arg("{}")
            .arg(";")
            .status();
    }
    let half = samples.len() / 2;
    let first_peak = samples[..half].iter().copied().max().unwrap_or(0);
    let second_peak = samples[half..].iter().copied().max().unwrap_or(0);
    let last = samples.last().copied().unwrap_or(0);
    println!(
        "bytes written {written}, peak first half {first_peak}, peak second half {second_peak}, final {last}"
    );
    assert!(
        last < written / 2,
        "space is reclaimed: {last} on disk after writing {written}"
    );
    assert!(
        second_peak <= first_peak * 2,
        "no growth trend: {first_peak} then {second_peak}"
    );
}

//! Behaviours an IMAP compliance suite checks, each from its RFC: the sent-date searches use
//! the Date header's own date (RFC 3501 §6.4.4), and RFC822.HEADER / RFC822.TEXT split the
//! message whatever else is fetched (RFC 3501 §6.4.5).

use tern_tests::imap;

const TOKEN: &str = "compliance-token";
const PASSWORD: &str = "demo-password";

fn message(date: &str, subject: &str) -> String {
    format!(
        "From: bob@remote.test\r\nTo: demo@example.test\r\nSubject: {subject}\r\nDate: {date}\r\n\r\nthe body of {subject}\r\n"
    )
}

async fn search(c: &mut imap::Client, criteria: &str) -> Vec<u32> {
    let r = c.cmd(&format!("SEARCH {criteria}")).await.expect("search");
    assert!(r.ok(), "SEARCH {criteria}: {}", r.all());
    r.lines("SEARCH")
        .first()
        .map(|l| {
            l.split(' ')
                .skip(1)
                .map(|n| n.parse().expect("number"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_date_searches_use_the_date_the_header_names() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    // 1: 26 March at +0300 (25 March 21:00 UTC); 2: 26 March 23:30 at -0500 (27 March UTC);
    // 3: 25 March in UTC.
    for (date, subject) in [
        ("Mon, 26 Mar 2007 00:00:00 +0300", "early"),
        ("Mon, 26 Mar 2007 23:30:00 -0500", "late"),
        ("Sun, 25 Mar 2007 12:00:00 +0000", "before"),
    ] {
        let r = c
            .cmd_literal("APPEND INBOX", message(date, subject).as_bytes())
            .await
            .expect("append");
        assert!(r.ok(), "{}", r.all());
    }
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    assert_eq!(search(&mut c, "SENTON 26-Mar-2007").await, vec![1, 2]);
    assert_eq!(search(&mut c, "SENTON 25-Mar-2007").await, vec![3]);
    assert_eq!(search(&mut c, "SENTBEFORE 26-Mar-2007").await, vec![3]);
    assert_eq!(search(&mut c, "SENTSINCE 26-Mar-2007").await, vec![1, 2]);
    assert_eq!(
        search(&mut c, "SENTSINCE 27-Mar-2007").await,
        Vec::<u32>::new()
    );
    tern.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc822_header_and_text_are_the_two_halves_of_the_message() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let raw = message("Tue, 24 Nov 2026 09:00:00 +0000", "halves");
    let r = c
        .cmd_literal("APPEND INBOX", raw.as_bytes())
        .await
        .expect("append");
    assert!(r.ok(), "{}", r.all());
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    let (header, text) = raw.split_at(raw.find("\r\n\r\n").expect("blank line") + 4);

    // Each alone, as a client that fetches nothing else asks for it.
    let r = c.cmd("FETCH 1 (RFC822.HEADER)").await.expect("fetch");
    assert!(r.ok(), "{}", r.all());
    let all = r.all();
    assert!(
        all.contains(&format!("RFC822.HEADER {{{}}}", header.len())),
        "{all}"
    );
    assert!(!all.contains("the body of"), "{all}");
    let r = c.cmd("FETCH 1 (RFC822.TEXT)").await.expect("fetch");
    assert!(r.ok(), "{}", r.all());
    let all = r.all();
    assert!(
        all.contains(&format!("RFC822.TEXT {{{}}}", text.len())),
        "{all}"
    );
    assert!(!all.contains("Subject: halves"), "{all}");
    assert!(all.contains("\\Seen"), "RFC822.TEXT sets \\Seen: {all}");
    tern.stop().expect("clean stop");
}

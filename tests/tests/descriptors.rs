//! A node short of file descriptors: started under a low open-files limit it says so on
//! stderr, and once it runs out it answers new SMTP clients `421 4.3.2` instead of leaving
//! them hanging in the listen queue; when descriptors come back it serves again.

use std::time::Duration;

use tern_tests::Tern;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::TcpStream,
};

const TOKEN: &str = "fd-token";
const PASSWORD: &str = "demo-password";

async fn first_line(stream: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    match tokio::time::timeout(Duration::from_secs(15), stream.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => Some(line.trim_end().to_string()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_descriptors_clients_are_told_to_come_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tern = Tern::start_limited(
        dir.path(),
        &["--dev"],
        &[
            ("TERN_DEV_ADMIN_TOKEN", TOKEN),
            ("TERN_DEV_PASSWORD", PASSWORD),
            ("TERN_SMTP__MAX_CONNECTIONS_PER_IP", "1000"),
        ],
        Some(256),
    )
    .expect("tern starts");
    tern.wait_for_log("the open-files limit is 256", Duration::from_secs(10))
        .expect("warned at start");

    let addr = tern.addr("smtp");
    let mut open = Vec::new();
    let (mut greeted, mut refused, mut silent) = (0, 0, 0);
    for _ in 0..400 {
        let Ok(stream) = TcpStream::connect(addr).await else {
            silent += 1;
            continue;
        };
        let mut stream = BufReader::new(stream);
        match first_line(&mut stream).await {
            Some(l) if l.starts_with("220 ") => greeted += 1,
            Some(l) if l.starts_with("421 4.3.2") => refused += 1,
            other => panic!("a client got {other:?}"),
        }
        open.push(stream);
    }
    println!("{greeted} greeted, {refused} refused, {silent} could not connect");
    assert!(greeted > 100, "most descriptors serve clients: {greeted}");
    assert!(
        refused > 0,
        "clients past the limit are refused, not left hanging"
    );
    assert_eq!(silent, 0);

    drop(open);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let line = first_line(&mut BufReader::new(stream)).await;
        if line.as_deref().is_some_and(|l| l.starts_with("220 ")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "served again: {line:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tern.stop().expect("stop");
}

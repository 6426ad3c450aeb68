//! `tern serve --dev` and `ternctl`: domains, accounts, aliases, forwards and catch-alls over
//! the admin API; refusals with their status codes; metrics; offline token recovery.

use tern_tests::{Tern, err, ok, ternctl};

const TOKEN: &str = "test-admin-token";

#[test]
fn admin_api_through_ternctl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tern = Tern::start(
        dir.path(),
        &["--dev"],
        &[
            ("TERN_DEV_ADMIN_TOKEN", TOKEN),
            ("TERN_DEV_PASSWORD", "demo-password"),
            // It also runs ternctl's offline commands on the data directory: embedded store.
            ("TERN_STORE__BACKEND", "embedded"),
        ],
    )
    .expect("tern starts");
    println!(
        "tern serve --dev ready after {:?} (fresh data directory)",
        tern.startup
    );
    assert!(
        tern.banner.iter().any(|l| l.contains("demo@example.test")),
        "{:?}",
        tern.banner
    );
    assert!(
        dir.path().join("data/tls/self-signed-cert.pem").is_file(),
        "dev certificate generated"
    );
    let url = tern.url();
    let ctl = |args: &[&str]| ternctl(&url, Some(TOKEN), args);

    assert!(ok(&ctl(&["domain", "add", "Example.ORG"])).contains("domain example.org added"));
    let list = ok(&ctl(&["domain", "list"]));
    assert!(
        list.contains("example.org") && list.contains("example.test"),
        "{list}"
    );
    assert!(
        ok(&ctl(&[
            "account",
            "add",
            "user@example.org",
            "--password",
            "long-enough-pw",
            "--quota-bytes",
            "1000000"
        ]))
        .contains("account user@example.org added")
    );
    let json: serde_json::Value = serde_json::from_str(&ok(&ctl(&[
        "--json",
        "account",
        "show",
        "user@example.org",
    ])))
    .expect("json");
    assert_eq!(json["quota_bytes"], 1_000_000);
    assert_eq!(json["used_bytes"], 0);
    let generated = ok(&ctl(&["account", "add", "second@example.org"]));
    assert!(
        generated.contains("password: "),
        "a generated password is shown once: {generated}"
    );

    ok(&ctl(&[
        "alias",
        "set",
        "team@example.org",
        "user@example.org",
        "second@example.org",
        "partner@remote.test",
    ]));
    assert!(
        ok(&ctl(&["alias", "list", "--domain", "example.org"])).contains("partner@remote.test")
    );
    ok(&ctl(&[
        "forward",
        "set",
        "user@example.org",
        "me@elsewhere.test",
        "--keep-copy",
    ]));
    assert!(ok(&ctl(&["forward", "show", "user@example.org"])).contains("me@elsewhere.test"));
    ok(&ctl(&[
        "catchall",
        "set",
        "example.org",
        "user@example.org",
    ]));
    assert!(ok(&ctl(&["catchall", "show", "example.org"])).contains("user@example.org"));
    ok(&ctl(&[
        "account",
        "quota",
        "user@example.org",
        "--bytes",
        "5000",
    ]));
    ok(&ctl(&[
        "account",
        "password",
        "user@example.org",
        "--password",
        "another-password",
    ]));

    // Refusals: each with its status and a message that says what is wrong.
    assert!(
        err(&ctl(&["domain", "add", "example.org"]))
            .contains("domain example.org already exists (HTTP 409)")
    );
    assert!(err(&ctl(&["domain", "add", "bad..domain"])).contains("(HTTP 400)"));
    assert!(
        err(&ctl(&[
            "account",
            "add",
            "no at sign",
            "--password",
            "long-enough-pw"
        ]))
        .contains("(HTTP 400)")
    );
    assert!(
        err(&ctl(&[
            "account",
            "add",
            "x@unknown.test",
            "--password",
            "long-enough-pw"
        ]))
        .contains("domain unknown.test (add it first) does not exist (HTTP 404)")
    );
    assert!(
        err(&ctl(&[
            "account",
            "add",
            "short@example.org",
            "--password",
            "short"
        ]))
        .contains("at least 8 characters (HTTP 400)")
    );
    assert!(
        err(&ctl(&[
            "alias",
            "set",
            "user@example.org",
            "second@example.org"
        ]))
        .contains("(HTTP 409)")
    );
    assert!(
        err(&ctl(&["domain", "remove", "example.org"])).contains("remove them first (HTTP 409)")
    );
    assert!(err(&ctl(&["account", "show", "ghost@example.org"])).contains("(HTTP 404)"));
    assert!(err(&ternctl(&url, None, &["domain", "list"])).contains("no admin token"));
    assert!(
        err(&ternctl(&url, Some("wrong"), &["domain", "list"]))
            .contains("invalid admin token (HTTP 401)")
    );
    let (status, _) = tern.get("/api/v1/domains").expect("get");
    assert_eq!(status, 401, "the API refuses without a token");

    let (status, metrics) = tern.get("/metrics").expect("metrics");
    assert_eq!(status, 200);
    for family in [
        "tern_store_commit_seconds_bucket",
        "tern_store_commits_total",
        "tern_store_disk_bytes",
        "tern_build_info",
        "process_resident_memory_bytes",
    ] {
        assert!(metrics.contains(family), "/metrics lacks {family}");
    }
    assert_eq!(tern.get("/healthz").expect("healthz").0, 200);
    assert_eq!(tern.get("/readyz").expect("readyz").0, 200);

    ok(&ctl(&["account", "remove", "second@example.org"]));
    tern.stop().expect("clean shutdown on SIGTERM");

    // Lost token: recover offline on the data directory, then the new token works.
    let data = dir.path().join("data");
    let out = ok(&ternctl(
        "http://127.0.0.1:9",
        None,
        &[
            "recover",
            "admin-token",
            "--data-dir",
            data.to_str().expect("utf8"),
            "--revoke-others",
        ],
    ));
    let new_token = out
        .trim()
        .strip_prefix("new admin token: ")
        .expect("token printed")
        .to_string();
    ok(&ternctl(
        "http://127.0.0.1:9",
        None,
        &[
            "recover",
            "password",
            "user@example.org",
            "--data-dir",
            data.to_str().expect("utf8"),
            "--password",
            "recovered-pw",
        ],
    ));
    let tern = Tern::start(
        dir.path(),
        &[],
        &[
            ("TERN_SERVER__DATA_DIR", data.to_str().expect("utf8")),
            ("TERN_SERVER__HOSTNAME", "mx.example.org"),
            ("TERN_TLS__ALLOW_SELF_SIGNED", "true"),
            ("TERN_LOG__FORMAT", "text"),
            ("TERN_STORE__BACKEND", "embedded"),
        ],
    )
    .expect("restart in production mode");
    assert!(
        ok(&ternctl(&tern.url(), Some(&new_token), &["domain", "list"])).contains("example.org"),
        "data survived the restart"
    );
    assert!(
        err(&ternctl(&tern.url(), Some(TOKEN), &["domain", "list"])).contains("HTTP 401"),
        "old tokens were revoked"
    );
    tern.stop().expect("clean shutdown");
}

#[test]
fn bad_configuration_stops_startup_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (toml, key) in [
        ("[server]\nhostnme = \"mx\"\n", "hostnme"),
        ("[listeners]\nsmtp = \"not-an-address\"\n", "listeners.smtp"),
        ("[store]\nbackend = \"rocksdb\"\n", "store.backend"),
        (
            "[addresses]\nlocal_part_case = \"upper\"\n",
            "addresses.local_part_case",
        ),
    ] {
        let path = dir.path().join("tern.toml");
        std::fs::write(&path, toml).expect("write config");
        let out = std::process::Command::new(tern_tests::bin("tern"))
            .args(["serve", "--config", path.to_str().expect("utf8")])
            .output()
            .expect("run tern");
        assert_eq!(out.status.code(), Some(2), "bad config exits with 2");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "message names {key}: {stderr}");
    }
    let out = std::process::Command::new(tern_tests::bin("tern"))
        .args(["serve", "--dev"])
        .env("TERN_LISTENERS__IMAP", "999.1.1.1:143")
        .current_dir(dir.path())
        .output()
        .expect("run tern");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listeners.imap"));
}

//! The alert rules and dashboards on a real Prometheus (Debian's `prometheus` package) scraping
//! a real three-member cluster on PostgreSQL and a single node on the embedded store: every metric the rules and the dashboards' panels
//! read is scraped, every panel's query runs, every rule evaluates without error, nothing is
//! active on a healthy cluster, and the right alerts go
//! pending when the store stops (TernStoreUnhealthy on each member) and when a member is
//! killed (TernNodeDown for it, TernClusterMemberDown). Pending is the state each rule reaches
//! at once; firing follows after its `for`, which `promtool test rules` covers.

use std::{collections::BTreeSet, path::PathBuf};

use serde_json::Value;
use tern_tests::{
    Tern,
    cluster::{Scene, balanced, start, status, wait},
    prometheus::Prometheus,
};

fn ops() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ops")
}

fn rules_file() -> PathBuf {
    ops().join("alerts/tern.rules.yml")
}

/// Every panel query of the dashboards: (dashboard, panel, expression with Grafana's
/// variables replaced).
fn dashboard_queries() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let dir = ops().join("dashboards");
    for entry in std::fs::read_dir(&dir).expect("dashboards") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let board: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        for panel in board["panels"].as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().expect("expr");
                out.push((
                    path.file_name()
                        .expect("name")
                        .to_string_lossy()
                        .into_owned(),
                    panel["title"].as_str().unwrap_or_default().to_string(),
                    expr.replace("$__rate_interval", "1m")
                        .replace("$instance", ".*"),
                ));
            }
        }
    }
    out
}

/// The `tern_*` metric names in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("tern_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// The `tern_*` metric names the rules read.
fn rule_metrics() -> BTreeSet<String> {
    metric_names(&std::fs::read_to_string(rules_file()).expect("rules file"))
}

/// The active alerts named `name` in `state` (`pending` or `firing`).
fn active<'a>(alerts: &'a [Value], name: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == name)
        .collect()
}

#[test]
fn alert_rules_on_a_real_prometheus_go_pending_when_the_store_stops_and_a_member_dies() {
    let scene = Scene::new(3);
    let (pg, certs, dirs) = (&scene.pg, &scene.certs, &scene.dirs);
    let n1 = start(pg, dirs[0].path(), certs, 1, None);
    let join = n1.addr("cluster").to_string();
    let mut nodes = vec![
        n1,
        start(pg, dirs[1].path(), certs, 2, Some(&join)),
        start(pg, dirs[2].path(), certs, 3, Some(&join)),
    ];
    wait(&nodes[0], 60, "three members with their shares", |s| {
        balanced(s, &[1, 2, 3])
    });
    // And a single node on the embedded store, whose store families differ.
    let (_single_dir, single) = Tern::dev("single-node-admin-token", "single-password", &[]);
    let targets: Vec<_> = nodes.iter().chain([&single]).map(|n| n.http).collect();
    let prom = Prometheus::start(&targets, &rules_file());
    prom.wait(60, "four targets up", |p| p.targets_up() == 4);

    // Every metric the rules read is in the scrape (cluster families included).
    prom.wait(30, "the scrape holds every tern family", |p| {
        p.metric_names()
            .iter()
            .any(|n| n == "tern_cluster_raft_term")
    });
    let scraped: BTreeSet<String> = prom.metric_names().into_iter().collect();
    let wanted = rule_metrics();
    assert!(wanted.len() >= 20, "the rules read {wanted:?}");
    let missing: Vec<_> = wanted.difference(&scraped).collect();
    assert!(
        missing.is_empty(),
        "rules read metrics tern does not export: {missing:?}"
    );

    // Every dashboard panel reads exported metrics, and Prometheus runs its query.
    let panels = dashboard_queries();
    assert!(panels.len() >= 60, "{} panel queries", panels.len());
    for (board, panel, expr) in &panels {
        let names = metric_names(expr);
        assert!(
            !names.is_empty(),
            "{board} / {panel} reads no tern metric: {expr}"
        );
        let missing: Vec<_> = names.difference(&scraped).collect();
        assert!(
            missing.is_empty(),
            "{board} / {panel} reads {missing:?}, not exported"
        );
        if let Err(e) = prom.query(expr) {
            panic!("{board} / {panel}: Prometheus refuses {expr}: {e}");
        }
    }

    // Every rule loaded and evaluates on the live data without error.
    let defined = include_str!("../../ops/alerts/tern.rules.yml")
        .matches("- alert:")
        .count();
    prom.wait(30, "every rule evaluated", |p| {
        let rules = p.rules();
        rules.len() == defined && rules.iter().all(|(_, health, _)| health == "ok")
    });
    for (name, _, error) in prom.rules() {
        assert!(error.is_empty(), "{name}: {error}");
    }
    // A healthy cluster raises nothing — apart from what the machine running the test may
    // really have: a data filesystem (the host's) under 10 % free.
    prom.wait(60, "no alert on a healthy cluster", |p| {
        p.alerts().iter().all(|a| {
            ["TernDiskSpaceLow", "TernInodesLow"]
                .contains(&a["labels"]["alertname"].as_str().unwrap_or(""))
        })
    });

    // The store stops: each member reports it failed.
    for n in &mut nodes {
        for text in ["store", "postgres", "database"] {
            n.expect_error(text);
        }
    }
    pg.stop().expect("stop postgres");
    prom.wait(60, "TernStoreUnhealthy pending on every member", |p| {
        let alerts = p.alerts();
        let store = active(&alerts, "TernStoreUnhealthy");
        store.len() == 3 && store.iter().all(|a| a["labels"]["backend"] == "postgres")
    });
    pg.start_again().expect("start postgres");
    prom.wait(60, "the store alert clears", |p| {
        active(&p.alerts(), "TernStoreUnhealthy").is_empty()
    });

    // A member that is not the leader is killed.
    let leader = wait(&nodes[0], 30, "a leader", |s| {
        s["leader"].as_u64().is_some()
    })["leader"]
        .as_u64()
        .expect("leader");
    let victim = (1..=3u64).find(|id| *id != leader).expect("a follower") as usize;
    let victim_addr = nodes[victim - 1].http.to_string();
    nodes.remove(victim - 1).kill();
    prom.wait(60, "TernNodeDown pending for the killed member", |p| {
        let alerts = p.alerts();
        let down = active(&alerts, "TernNodeDown");
        down.len() == 1
            && down[0]["labels"]["instance"] == victim_addr.as_str()
            && down[0]["labels"]["job"] == "tern"
            && down[0]["annotations"]["runbook_url"]
                .as_str()
                .is_some_and(|u| u.ends_with("ops/runbooks/TernNodeDown.md"))
    });
    prom.wait(60, "TernClusterMemberDown pending", |p| {
        !active(&p.alerts(), "TernClusterMemberDown").is_empty()
    });
    // The survivors still have a leader: that alert stays quiet.
    assert!(status(&nodes[0])["leader"].as_u64().is_some());
    assert!(active(&prom.alerts(), "TernClusterNoLeader").is_empty());
}

//! Helpers for tests and benchmarks of the cluster: real `tern` nodes on one PostgreSQL with
//! their cluster port on 127.0.0.1:0 and certificates from `ternctl cluster certs`, the
//! cluster status as a node reports it, and waiting for a condition on it.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde_json::Value;
use tern_store::postgres::throwaway::TempPostgres;

use crate::{Tern, ok, ternctl};

/// The admin token of every node.
pub const TOKEN: &str = "cluster-admin-token-0123456789";
/// The dev account's password on every node.
pub const PASSWORD: &str = "cluster-password";
/// The queue's shard count.
pub const SHARDS: u64 = 64;

/// What a cluster test starts from: one throwaway PostgreSQL, a cluster CA with certificates
/// for nodes 1..=n, and a data directory per node.
pub struct Scene {
    /// The shared store.
    pub pg: TempPostgres,
    /// The certificates' directory.
    pub certs: PathBuf,
    /// Node `id`'s data directory is `dirs[id - 1]`.
    pub dirs: Vec<tempfile::TempDir>,
    _scratch: tempfile::TempDir,
}

impl Scene {
    /// Sets up a scene for `n` nodes.
    pub fn new(n: u64) -> Scene {
        let scratch = tempfile::tempdir().expect("tempdir");
        let dir = scratch.path().join("certs");
        let ids: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        certs(&dir, &ids.iter().map(String::as_str).collect::<Vec<_>>());
        Scene {
            pg: TempPostgres::start().expect("postgres"),
            certs: dir,
            dirs: (0..n)
                .map(|_| tempfile::tempdir().expect("tempdir"))
                .collect(),
            _scratch: scratch,
        }
    }
}

/// Starts node `id` in `workdir` on `pg`, with certificates from `certs`, joining through
/// `join` if given.
pub fn start(pg: &TempPostgres, workdir: &Path, certs: &Path, id: u64, join: Option<&str>) -> Tern {
    start_with(pg, workdir, certs, id, join, &[])
}

/// [`start`] with more environment.
pub fn start_with(
    pg: &TempPostgres,
    workdir: &Path,
    certs: &Path,
    id: u64,
    join: Option<&str>,
    extra: &[(&str, &str)],
) -> Tern {
    launch(pg, workdir, certs, id, join, extra, &[])
}

/// [`start_with`] with more arguments to `tern serve --dev`.
pub fn launch(
    pg: &TempPostgres,
    workdir: &Path,
    certs: &Path,
    id: u64,
    join: Option<&str>,
    extra: &[(&str, &str)],
    args: &[&str],
) -> Tern {
    let url = pg.url();
    let file = |name: String| certs.join(name).display().to_string();
    let id_s = id.to_string();
    let (ca, cert, key) = (
        file("ca.pem".into()),
        file(format!("node-{id}.pem")),
        file(format!("node-{id}.key")),
    );
    let mut env = vec![
        ("TERN_DEV_ADMIN_TOKEN", TOKEN),
        ("TERN_DEV_PASSWORD", PASSWORD),
        ("TERN_STORE__BACKEND", "postgres"),
        ("TERN_STORE__POSTGRES_URL", url.as_str()),
        ("TERN_LISTENERS__CLUSTER", "127.0.0.1:0"),
        ("TERN_CLUSTER__NODE_ID", id_s.as_str()),
        ("TERN_CLUSTER__CA_FILE", ca.as_str()),
        ("TERN_CLUSTER__CERTIFICATE", cert.as_str()),
        ("TERN_CLUSTER__PRIVATE_KEY", key.as_str()),
    ];
    if let Some(j) = join {
        env.push(("TERN_CLUSTER__JOIN", j));
    }
    env.extend_from_slice(extra);
    let args: Vec<&str> = ["--dev"].iter().chain(args).copied().collect();
    let mut tern = Tern::start(workdir, &args, &env).expect("node starts");
    // openraft logs each failed RPC to a peer that is gone (replication, vote requests) at
    // ERROR level.
    tern.expect_error("ERROR openraft::replication");
    tern.expect_error("while requesting vote error=Unreachable");
    tern
}

/// The cluster status `tern` reports.
pub fn status(tern: &Tern) -> Value {
    let v = tern.api(TOKEN, "/cluster").expect("cluster status");
    assert_eq!(v["enabled"], true, "{v}");
    v["status"].clone()
}

/// The members in a status.
pub fn members(s: &Value) -> Vec<Value> {
    s["members"].as_array().cloned().unwrap_or_default()
}

/// Waits up to `secs` for the status `tern` reports to satisfy `check`.
pub fn wait(tern: &Tern, secs: u64, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = status(tern);
        if check(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {what}; last status {s:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every member of `ids` active with its share of the shards, and no shard without an owner.
pub fn balanced(s: &Value, ids: &[u64]) -> bool {
    let ms = members(s);
    let share = SHARDS / ids.len() as u64;
    s["unowned_shards"] == 0
        && s["leader"].is_u64()
        && ids.iter().all(|id| {
            ms.iter().any(|m| {
                m["id"] == *id
                    && m["state"] == "active"
                    && (share..=share + 1).contains(&m["shards"].as_u64().unwrap_or(0))
            })
        })
}

/// Makes a cluster CA and certificates for `ids` in `dir` with `ternctl cluster certs`.
pub fn certs(dir: &Path, ids: &[&str]) {
    let mut args = vec!["cluster", "certs", "--out", dir.to_str().expect("utf8")];
    args.extend_from_slice(ids);
    ok(&ternctl("http://127.0.0.1:1", None, &args));
}

//! `ternctl cluster status|drain|leave|certs`: the cluster as the node asked sees it (members
//! with role, state, shards and replication lag; leader, term and indexes), handing a member's
//! shards away before it is stopped (what a Kubernetes preStop hook calls), removing a member,
//! and making a cluster CA with node certificates for a test or small setup.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::{client::Client, table};

/// Cluster commands.
#[derive(Subcommand)]
pub enum ClusterCmd {
    /// Members, roles, leader, term, indexes, lag and owned shards.
    Status,
    /// Hand every queue shard of a member to the others, then say it can be stopped.
    Drain {
        /// The member's node id.
        node: u64,
        /// Seconds to wait for its shards to move.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Remove a member from the cluster (stop it afterwards); its shards move.
    Leave {
        /// The member's node id.
        node: u64,
    },
    /// Make a cluster CA and a certificate for each node id (files `ca.pem`, `ca.key`,
    /// `node-<id>.pem`, `node-<id>.key` in `--out`; keep `ca.key` off the nodes). An existing
    /// CA in `--out` is reused, so more nodes can be added later.
    Certs {
        /// Directory to write the files to.
        #[arg(long)]
        out: PathBuf,
        /// Node ids to make certificates for.
        #[arg(required = true)]
        nodes: Vec<u64>,
    },
}

/// Runs a cluster command.
pub fn run(c: &Client, cmd: ClusterCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        ClusterCmd::Status => {
            let v = c.get("/cluster")?;
            if json {
                table::print(&v, &[], true);
                return Ok(());
            }
            if v["enabled"] != true {
                println!("this node is not in a cluster (listeners.cluster is not set)");
                return Ok(());
            }
            let s = &v["status"];
            let opt = |x: &Value| x.as_u64().map_or("-".to_string(), |n| n.to_string());
            println!(
                "node {}  leader {}  term {}  last log {}  committed {}  applied {}  shards {} ({} \
                 without owner)",
                s["node_id"],
                opt(&s["leader"]),
                s["term"],
                opt(&s["last_log_index"]),
                opt(&s["commit_index"]),
                opt(&s["applied_index"]),
                s["shards"],
                s["unowned_shards"]
            );
            let rows: Vec<Value> = s["members"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|m| {
                    json!({
                        "id": m["id"],
                        "role": m["role"],
                        "state": m["state"],
                        "shards": m["shards"],
                        "lag": opt(&m["lag"]),
                        "raft": m["raft"],
                        "admin": m["admin"],
                    })
                })
                .collect();
            table::print(
                &Value::Array(rows),
                &["id", "role", "state", "shards", "lag", "raft", "admin"],
                false,
            );
        }
        ClusterCmd::Drain { node, timeout } => {
            c.post(&format!("/cluster/nodes/{node}/drain"), json!({}))?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
            loop {
                let v = c.get("/cluster")?;
                let held = v["status"]["members"]
                    .as_array()
                    .and_then(|m| m.iter().find(|m| m["id"] == node))
                    .and_then(|m| m["shards"].as_u64())
                    .unwrap_or(0);
                if held == 0 {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    anyhow::bail!(
                        "node {node} still holds {held} shards after {timeout} s; it is draining, \
                         check `ternctl cluster status`"
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            table::done(
                &format!("node {node} is drained: it holds no queue shards and can be stopped"),
                json,
            );
        }
        ClusterCmd::Leave { node } => {
            c.post(&format!("/cluster/nodes/{node}/leave"), json!({}))?;
            table::done(&format!("node {node} left the cluster; stop it now"), json);
        }
        ClusterCmd::Certs { out, nodes } => {
            let written = certs(&out, &nodes)?;
            table::done(
                &format!("wrote {} in {}", written.join(", "), out.display()),
                json,
            );
        }
    }
    Ok(())
}

/// The DNS name every node certificate carries (what nodes check).
const SERVER_NAME: &str = "tern-cluster";

fn certs(out: &std::path::Path, nodes: &[u64]) -> anyhow::Result<Vec<String>> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (ca_cert, ca_key) = (out.join("ca.pem"), out.join("ca.key"));
    let mut written = Vec::new();
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Tern cluster CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = if ca_key.exists() {
        KeyPair::from_pem(&std::fs::read_to_string(&ca_key)?).context("reading ca.key")?
    } else {
        let key = KeyPair::generate()?;
        let cert = ca_params.self_signed(&key)?;
        write_private(&ca_key, &key.serialize_pem())?;
        std::fs::write(&ca_cert, cert.pem())?;
        written.extend(["ca.pem".to_string(), "ca.key".to_string()]);
        key
    };
    let issuer = Issuer::new(ca_params, key);
    for id in nodes {
        let mut params = CertificateParams::new(vec![SERVER_NAME.to_string()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("tern node {id}"));
        let node_key = KeyPair::generate()?;
        let cert = params.signed_by(&node_key, &issuer)?;
        std::fs::write(out.join(format!("node-{id}.pem")), cert.pem())?;
        write_private(
            &out.join(format!("node-{id}.key")),
            &node_key.serialize_pem(),
        )?;
        written.extend([format!("node-{id}.pem"), format!("node-{id}.key")]);
    }
    Ok(written)
}

/// Writes a private key readable by its owner only.
fn write_private(path: &std::path::Path, pem: &str) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(pem.as_bytes())?;
    Ok(())
}

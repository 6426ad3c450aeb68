//! `ternctl queue list|summary|show|retry|hold|release|delete|bounce|inject|connections`: the
//! outbound queue as operators steer it, and the SMTP connections it holds open.

use clap::Subcommand;
use serde_json::{Value, json};

use crate::{
    client::{Client, segment},
    human, table,
};

/// Queue commands.
#[derive(Subcommand)]
pub enum QueueCmd {
    /// List queued messages.
    List {
        /// Destination domain contains this.
        #[arg(long)]
        domain: Option<String>,
        /// Envelope sender contains this.
        #[arg(long)]
        sender: Option<String>,
        /// A recipient contains this.
        #[arg(long)]
        recipient: Option<String>,
        /// pending, deferred or held.
        #[arg(long)]
        status: Option<String>,
        /// Only messages at least this many seconds old.
        #[arg(long)]
        min_age: Option<i64>,
        /// At most this many messages (the server's default is 1000, its maximum 10000).
        #[arg(long)]
        limit: Option<usize>,
        /// Only messages after this queue id (what a truncated listing says to pass).
        #[arg(long)]
        after: Option<String>,
    },
    /// Messages by destination and age, with suspended destinations (like qshape).
    Summary,
    /// The outbound SMTP connections open on every node, by destination.
    Connections,
    /// One message with every delivery attempt.
    Show { id: String },
    /// Try again now: one message, every message of `--domain` (clearing its suspension), or `--all`.
    Retry {
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        domain: Option<String>,
        #[arg(long, conflicts_with_all = ["id", "domain"])]
        all: bool,
    },
    /// Keep a message from being tried until released.
    Hold { id: String },
    /// Put a held message back, due now.
    Release { id: String },
    /// Remove a message without notifying anyone.
    Delete { id: String },
    /// Fail a message now and send its sender a bounce.
    Bounce { id: String },
    /// Put a message file (RFC 5322, optionally preceded by `FROM:` and `RCPT:` lines) into the
    /// queue; --from/--to override the file's envelope.
    Inject {
        file: std::path::PathBuf,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Vec<String>,
    },
}

fn rows(entries: &Value) -> Value {
    let list = entries.as_array().cloned().unwrap_or_default();
    Value::Array(
        list.iter()
            .map(|e| {
                let rcpts: Vec<String> = e["recipients"]
                    .as_array()
                    .map(|r| {
                        r.iter()
                            .map(|x| {
                                format!(
                                    "{} ({})",
                                    x["address"].as_str().unwrap_or(""),
                                    x["status"].as_str().unwrap_or("")
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "id": e["id"],
                    "domain": e["domain"],
                    "sender": if e["sender"] == "" { json!("<>") } else { e["sender"].clone() },
                    "status": e["status"],
                    "attempts": e["attempts"],
                    "age": human::age(e["age_seconds"].as_i64().unwrap_or(0)),
                    "recipients": rcpts.join(", "),
                    "last_result": e["last_attempt"]["result"],
                })
            })
            .collect(),
    )
}

/// One message: its envelope and times, each recipient's state with the last reply for it,
/// and every attempt.
fn show(s: &Value) {
    let e = &s["entry"];
    let now = human::now();
    let time = |v: &Value| v.as_i64().map_or("-".into(), |t| human::time(t, now));
    let sender = match e["sender"].as_str() {
        Some("") | None => "<>".to_string(),
        Some(s) => s.to_string(),
    };
    for (label, value) in [
        ("Id", e["id"].as_str().unwrap_or("").to_string()),
        ("Sender", sender),
        (
            "Destination",
            e["domain"].as_str().unwrap_or("").to_string(),
        ),
        ("Size", human::bytes(e["size"].as_u64().unwrap_or(0))),
        ("Status", e["status"].as_str().unwrap_or("").to_string()),
        ("Queued", time(&e["created"])),
        ("Attempts", e["attempts"].to_string()),
        (
            "Next attempt",
            if e["held"] == true {
                "held".into()
            } else {
                time(&e["next_attempt"])
            },
        ),
    ] {
        println!("{label:<13} {value}");
    }
    println!();
    let recipients: Vec<Value> = e["recipients"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            json!({
                "recipient": r["address"],
                "status": r["status"],
                "last_reply": r["reply"].as_str().unwrap_or("-"),
            })
        })
        .collect();
    table::print(
        &Value::Array(recipients),
        &["recipient", "status", "last_reply"],
        false,
    );
    println!();
    let history: Vec<Value> = s["history"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|h| json!({ "at": time(&h["at"]), "host": h["host"], "result": h["result"] }))
        .collect();
    table::print(&Value::Array(history), &["at", "host", "result"], false);
}

/// Runs a queue command.
pub fn run(c: &Client, cmd: QueueCmd, json: bool) -> anyhow::Result<()> {
    let cols = [
        "id",
        "domain",
        "sender",
        "status",
        "attempts",
        "age",
        "recipients",
        "last_result",
    ];
    match cmd {
        QueueCmd::List {
            domain,
            sender,
            recipient,
            status,
            min_age,
            limit,
            after,
        } => {
            let mut query = Vec::new();
            for (k, v) in [
                ("domain", domain),
                ("sender", sender),
                ("recipient", recipient),
                ("status", status),
                ("min_age_seconds", min_age.map(|m| m.to_string())),
                ("limit", limit.map(|l| l.to_string())),
                ("after", after),
            ] {
                if let Some(v) = v {
                    query.push(format!("{k}={}", segment(&v)));
                }
            }
            let path = if query.is_empty() {
                "/queue".to_string()
            } else {
                format!("/queue?{}", query.join("&"))
            };
            let q = c.get(&path)?;
            if json {
                table::print(&q, &[], true);
            } else {
                table::print(&rows(&q["entries"]), &cols, false);
                if let Some(next) = q["next"].as_str() {
                    eprintln!("(more messages: run again with --after {next})");
                }
            }
        }
        QueueCmd::Summary => {
            let s = c.get("/queue/summary")?;
            if json {
                table::print(&s, &[], true);
            } else {
                let flat: Vec<Value> = s["destinations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|mut d| {
                        if let Some(ages) = d["by_age"].as_object().cloned() {
                            for (k, v) in ages {
                                d[k] = v;
                            }
                        }
                        d
                    })
                    .collect();
                let mut columns = vec!["domain", "total"];
                columns.extend([
                    "<5m", "<10m", "<20m", "<40m", "<80m", "<160m", "<320m", "<640m", "<1280m",
                    "1280m+",
                ]);
                let now = human::now();
                let flat: Vec<Value> = flat
                    .into_iter()
                    .map(|mut d| {
                        if let Some(until) = d["suspended_until"].as_i64() {
                            d["suspended_until"] = json!(human::time(until, now));
                        }
                        d
                    })
                    .collect();
                columns.extend(["suspended_until", "last_error"]);
                table::print(&Value::Array(flat), &columns, false);
            }
        }
        QueueCmd::Connections => {
            let r = c.get("/queue/connections")?;
            crate::cmd::sessions::warn_unanswered(&r);
            if json {
                table::print(&r["connections"], &[], true);
            } else {
                let now = human::now();
                let rows: Vec<Value> = r["connections"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| {
                        json!({
                            "domain": c["domain"],
                            "host": c["host"],
                            "address": c["address"],
                            "node": c["node"],
                            "tls": if c["tls"] == true { "yes" } else { "no" },
                            "open": human::age(now - c["since"].as_i64().unwrap_or(now)),
                            "messages": c["messages"],
                            "sending": c["sending"].as_str().unwrap_or("-"),
                        })
                    })
                    .collect();
                table::print(
                    &Value::Array(rows),
                    &[
                        "domain", "host", "address", "node", "tls", "open", "messages", "sending",
                    ],
                    false,
                );
            }
        }
        QueueCmd::Show { id } => {
            let s = c.get(&format!("/queue/{}", segment(&id)))?;
            if json {
                table::print(&s, &[], true);
            } else {
                show(&s);
            }
        }
        QueueCmd::Retry { id, domain, all } => {
            let r = match (id, domain, all) {
                (Some(id), _, _) => c.post(&format!("/queue/{}/retry", segment(&id)), json!({}))?,
                (None, Some(d), _) => c.post("/queue/retry", json!({ "domain": d }))?,
                (None, None, true) => c.post("/queue/retry", json!({}))?,
                (None, None, false) => anyhow::bail!("say which: an id, --domain D, or --all"),
            };
            let n = r["retried"].as_u64().unwrap_or(1);
            table::done(&format!("{n} message(s) due now"), json);
        }
        QueueCmd::Hold { id } => {
            c.post(&format!("/queue/{}/hold", segment(&id)), json!({}))?;
            table::done(&format!("{id} held"), json);
        }
        QueueCmd::Release { id } => {
            c.post(&format!("/queue/{}/release", segment(&id)), json!({}))?;
            table::done(&format!("{id} released"), json);
        }
        QueueCmd::Delete { id } => {
            c.delete(&format!("/queue/{}", segment(&id)))?;
            table::done(&format!("{id} deleted"), json);
        }
        QueueCmd::Inject { file, from, to } => {
            use base64::Engine as _;
            let bytes = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let r = c.post(
                "/queue/inject",
                json!({
                    "message_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
                    "from": from,
                    "to": to,
                }),
            )?;
            table::done(
                &format!("queued as {}", r["id"].as_str().unwrap_or("?")),
                json,
            );
        }
        QueueCmd::Bounce { id } => {
            c.post(&format!("/queue/{}/bounce", segment(&id)), json!({}))?;
            table::done(&format!("{id} returned to its sender"), json);
        }
    }
    Ok(())
}

//! `ternctl doctor`: the node's troubleshooter — each finding with its severity, what it means
//! and how to fix it; exits non-zero when any finding is an error.

use clap::Args;
use serde_json::Value;

use crate::client::Client;

/// Options of `ternctl doctor`.
#[derive(Args)]
pub struct DoctorCmd {
    /// Show the checks that passed too.
    #[arg(long)]
    pub all: bool,
}

/// Runs the checks on the node and prints the findings.
pub fn run(c: &Client, cmd: DoctorCmd, json: bool) -> anyhow::Result<()> {
    let r = c.get("/doctor")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        print(&r, cmd.all);
    }
    match r["errors"].as_u64().unwrap_or(0) {
        0 => Ok(()),
        n => anyhow::bail!("{n} error{} found", if n == 1 { "" } else { "s" }),
    }
}

fn print(r: &Value, all: bool) {
    let findings = r["findings"].as_array().cloned().unwrap_or_default();
    for f in &findings {
        let severity = f["severity"].as_str().unwrap_or("?");
        if severity == "ok" && !all {
            continue;
        }
        println!(
            "{:<8} {:<16} {}",
            severity.to_uppercase(),
            f["check"].as_str().unwrap_or(""),
            f["subject"].as_str().unwrap_or("")
        );
        println!("{:26}{}", "", f["message"].as_str().unwrap_or(""));
        if let Some(fix) = f["fix"].as_str().filter(|s| !s.is_empty()) {
            println!("{:26}fix: {fix}", "");
        }
    }
    let ok = findings.iter().filter(|f| f["severity"] == "ok").count();
    let count = |n: u64, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    println!(
        "{}, {}, {} passed",
        count(r["errors"].as_u64().unwrap_or(0), "error"),
        count(r["warnings"].as_u64().unwrap_or(0), "warning"),
        count(ok as u64, "check")
    );
}

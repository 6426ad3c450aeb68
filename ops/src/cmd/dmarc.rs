//! `ternctl dmarc reports [--domain D] [--limit N]`: the DMARC aggregate reports receivers sent
//! about our domains, the newest period first.

use clap::Subcommand;
use serde_json::{Value, json};

use crate::{
    client::{Client, segment},
    human, table,
};

/// DMARC commands.
#[derive(Subcommand)]
pub enum DmarcCmd {
    /// List the aggregate reports received.
    Reports {
        /// Only those about this domain.
        #[arg(long)]
        domain: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// Runs a DMARC command.
pub fn run(c: &Client, cmd: DmarcCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        DmarcCmd::Reports { domain, limit } => {
            let mut path = format!("/dmarc-reports?limit={limit}");
            if let Some(d) = domain {
                path.push_str(&format!("&domain={}", segment(&d)));
            }
            let v = c.get(&path)?;
            if json {
                table::print(&v["reports"], &[], true);
                return Ok(());
            }
            let now = human::now();
            let rows: Vec<Value> = v["reports"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|r| {
                    json!({
                        "domain": r["domain"],
                        "reporter": r["org"],
                        "from": human::time(r["begin"].as_i64().unwrap_or(0), now),
                        "policy": r["policy"],
                        "messages": r["messages"],
                        "failed": r["failed"],
                    })
                })
                .collect();
            table::print(
                &Value::Array(rows),
                &["domain", "reporter", "from", "policy", "messages", "failed"],
                false,
            );
        }
    }
    Ok(())
}

//! `ternctl doctor`: the node's troubleshooter — each finding with its severity, what it means
//! and how to fix it; with `--external HOST`, also the mail ports as a client outside sees
//! them; exits non-zero when any finding is an error.

use clap::Args;
use serde_json::{Value, json};

use crate::client::Client;

/// Options of `ternctl doctor`.
#[derive(Args)]
pub struct DoctorCmd {
    /// Show the checks that passed too.
    #[arg(long)]
    pub all: bool,
    /// Also connect to the mail ports of this host name (as clients outside do) and check
    /// each greets, and the certificate of the TLS ports.
    #[arg(long, value_name = "HOST")]
    pub external: Option<String>,
    /// With --external: a service on another port than its standard one (SERVICE=PORT, e.g.
    /// imaps=10993 behind port mapping); `SERVICE=0` skips it.
    #[arg(long = "port", value_name = "SERVICE=PORT", requires = "external")]
    pub ports: Vec<String>,
    /// With --external: a PEM file of CA certificates to trust besides the web PKI roots.
    #[arg(long, requires = "external")]
    pub ca: Option<std::path::PathBuf>,
}

/// The external findings, in the node's format.
fn external(
    host: &str,
    ports: &[String],
    ca: Option<&std::path::Path>,
) -> anyhow::Result<Vec<Value>> {
    let mut wanted: Vec<(&crate::probe::Service, u16)> =
        crate::probe::SERVICES.iter().map(|s| (s, s.port)).collect();
    for p in ports {
        let (name, port) = p
            .split_once('=')
            .and_then(|(n, p)| Some((n.trim(), p.trim().parse::<u16>().ok()?)))
            .ok_or_else(|| anyhow::anyhow!("--port {p:?}: expected SERVICE=PORT"))?;
        let Some(slot) = wanted.iter_mut().find(|(s, _)| s.name == name) else {
            anyhow::bail!(
                "--port {p:?}: no service {name:?} (smtp, submission, submissions, imap, imaps, pop3, pop3s)"
            );
        };
        slot.1 = port;
    }
    let tls = crate::probe::tls(ca)?;
    Ok(wanted
        .into_iter()
        .filter(|(_, port)| *port != 0)
        .map(|(s, port)| crate::probe::probe(host, s, port, &tls))
        .collect())
}

/// Runs the checks on the node and prints the findings.
pub fn run(c: &Client, cmd: DoctorCmd, json: bool) -> anyhow::Result<()> {
    let mut r = c.get("/doctor")?;
    if let Some(host) = &cmd.external {
        for f in external(host, &cmd.ports, cmd.ca.as_deref())? {
            let key = match f["severity"].as_str() {
                Some("error") => "errors",
                Some("warning") => "warnings",
                _ => "",
            };
            if !key.is_empty() {
                r[key] = json!(r[key].as_u64().unwrap_or(0) + 1);
            }
            if let Some(list) = r["findings"].as_array_mut() {
                list.push(f);
            }
        }
    }
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

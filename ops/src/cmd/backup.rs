//! `ternctl backup --to DIR`: streams a consistent copy of a running node's store into DIR in
//! chunks with a manifest and checksums. Run again on the same DIR, it resumes an interrupted
//! backup from the node's same snapshot while that is still open (10 idle minutes), and starts
//! over otherwise.

use std::path::Path;

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use clap::Args;
use serde_json::Value;

use crate::{
    archive::{self, FORMAT, Manifest},
    client::{Client, segment},
    human, table,
};

/// `ternctl backup`.
#[derive(Args)]
pub struct BackupCmd {
    /// Directory to write the backup to (created if missing).
    #[arg(long)]
    to: std::path::PathBuf,
}

fn fresh(c: &Client, dir: &Path) -> anyhow::Result<Manifest> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("chunk-") || name.starts_with("manifest.json") {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let started = c.post("/backup", serde_json::json!({}))?;
    Ok(Manifest {
        format: FORMAT,
        backup_id: started["id"].as_str().unwrap_or_default().to_string(),
        backend: started["backend"].as_str().unwrap_or_default().to_string(),
        created: started["created"].as_i64().unwrap_or_default(),
        chunks: Vec::new(),
        complete: false,
    })
}

fn decode(v: &Value) -> anyhow::Result<Vec<u8>> {
    STANDARD
        .decode(v.as_str().unwrap_or_default())
        .context("the node sent a key or value that is not base64")
}

/// Runs `ternctl backup`.
pub fn run(c: &Client, cmd: BackupCmd, json: bool) -> anyhow::Result<()> {
    let dir = cmd.to.as_path();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut manifest = match Manifest::read(dir)? {
        Some(m) if m.complete => bail!(
            "{} already holds a complete backup; use an empty directory",
            dir.display()
        ),
        Some(m)
            if c.get(&backup_path(
                &m,
                m.chunks.last().map(|c| c.last_key.as_str()),
            ))
            .is_ok() =>
        {
            if !json {
                eprintln!(
                    "resuming backup {} after {} chunks",
                    m.backup_id,
                    m.chunks.len()
                );
            }
            m
        }
        Some(m) => {
            if !json {
                eprintln!(
                    "backup {} can no longer be resumed (its snapshot is gone); starting over",
                    m.backup_id
                );
            }
            fresh(c, dir)?
        }
        None => fresh(c, dir)?,
    };
    manifest.write(dir)?;
    loop {
        let after = manifest.chunks.last().map(|c| c.last_key.clone());
        let v = c.get(&backup_path(&manifest, after.as_deref()))?;
        let pairs = v["pairs"]
            .as_array()
            .context("the node's answer holds no pairs")?
            .iter()
            .map(|p| Ok((decode(&p[0])?, decode(&p[1])?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let Some(last) = v["pairs"].as_array().and_then(|p| p.last()) {
            let n = manifest.chunks.len() + 1;
            let chunk = archive::write_chunk(
                dir,
                n,
                &pairs,
                last[0].as_str().unwrap_or_default().to_string(),
            )?;
            manifest.chunks.push(chunk);
        }
        if v["next"].is_null() {
            break;
        }
        manifest.write(dir)?;
    }
    manifest.complete = true;
    manifest.write(dir)?;
    let _ = c.delete(&format!("/backup/{}", segment(&manifest.backup_id)));
    table::done(
        &format!(
            "backed up {} keys ({}) in {} chunks to {}",
            manifest.pairs(),
            human::bytes(manifest.bytes()),
            manifest.chunks.len(),
            dir.display()
        ),
        json,
    );
    Ok(())
}

fn backup_path(m: &Manifest, after: Option<&str>) -> String {
    match after {
        Some(a) => format!("/backup/{}?after={}", segment(&m.backup_id), segment(a)),
        None => format!("/backup/{}", segment(&m.backup_id)),
    }
}

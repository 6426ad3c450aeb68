//! `ternctl account export ADDRESS --maildir DIR` and `ternctl account import ADDRESS
//! (--maildir DIR | --mbox FILE [--mailbox NAME])`: an account's mail to and from the formats
//! other servers use, for migrations. Flags, keywords and INTERNALDATE go along.

use std::{
    path::Path,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use crate::{
    client::{Client, segment},
    maildir, mbox, table,
};

fn messages_path(address: &str, mailbox: &str) -> String {
    format!(
        "/accounts/{}/mailboxes/{}/messages",
        segment(address),
        segment(mailbox)
    )
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Writes every mailbox of `address` into a Maildir++ at `dir`.
pub fn export(c: &Client, address: &str, dir: &Path, json: bool) -> anyhow::Result<()> {
    let mailboxes = c.get(&format!("/accounts/{}/mailboxes", segment(address)))?;
    let mut total = 0;
    for m in mailboxes.as_array().cloned().unwrap_or_default() {
        let name = m["name"].as_str().unwrap_or_default().to_string();
        let folder = dir.join(maildir::folder(&name));
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(folder.join(sub))
                .with_context(|| format!("creating {}", folder.join(sub).display()))?;
        }
        let mut known = std::fs::read_to_string(folder.join("dovecot-keywords"))
            .map(|t| maildir::parse_keywords_file(&t))
            .unwrap_or_default();
        let mut after: Option<u64> = None;
        loop {
            let path = match after {
                Some(uid) => format!("{}?after_uid={uid}", messages_path(address, &name)),
                None => messages_path(address, &name),
            };
            let page = c.get(&path)?;
            let uidvalidity = page["uidvalidity"].as_u64().unwrap_or(0);
            for msg in page["messages"].as_array().cloned().unwrap_or_default() {
                let raw = STANDARD
                    .decode(msg["raw"].as_str().unwrap_or_default())
                    .context("the node sent a message that is not base64")?;
                let date = msg["internal_date"].as_i64().unwrap_or(0);
                let info = maildir::info(
                    &strings(&msg["flags"]),
                    &strings(&msg["keywords"]),
                    &mut known,
                );
                let file = folder
                    .join("cur")
                    .join(format!("{date}.T{}V{uidvalidity}.tern:{info}", msg["uid"]));
                std::fs::write(&file, &raw)
                    .with_context(|| format!("writing {}", file.display()))?;
                let mtime = UNIX_EPOCH + Duration::from_secs(date.max(0) as u64);
                std::fs::File::options()
                    .write(true)
                    .open(&file)
                    .and_then(|f| f.set_modified(mtime))
                    .with_context(|| format!("dating {}", file.display()))?;
                total += 1;
            }
            match page["next_after_uid"].as_u64() {
                Some(uid) => after = Some(uid),
                None => break,
            }
        }
        if !known.is_empty() {
            std::fs::write(
                folder.join("dovecot-keywords"),
                maildir::keywords_file(&known),
            )?;
        }
    }
    table::done(
        &format!(
            "exported {total} messages of {address} to {}",
            dir.display()
        ),
        json,
    );
    Ok(())
}

fn append(
    c: &Client,
    address: &str,
    mailbox: &str,
    raw: &[u8],
    flags: Vec<String>,
    keywords: Vec<String>,
    date: Option<i64>,
) -> anyhow::Result<()> {
    c.post(
        &messages_path(address, mailbox),
        json!({
            "raw": STANDARD.encode(raw),
            "flags": flags,
            "keywords": keywords,
            "internal_date": date,
        }),
    )?;
    Ok(())
}

/// Appends every message of a Maildir++ at `dir` to `address`, mailbox by folder.
pub fn import_maildir(c: &Client, address: &str, dir: &Path, json: bool) -> anyhow::Result<()> {
    if !dir.join("cur").is_dir() && !dir.join("new").is_dir() {
        bail!("{} is not a Maildir (no cur/ or new/)", dir.display());
    }
    let mut folders = vec![String::new()];
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if maildir::mailbox(&name).is_some()
            && name.starts_with('.')
            && dir.join(&name).join("cur").is_dir()
        {
            folders.push(name);
        }
    }
    folders.sort();
    let mut total = 0;
    for f in folders {
        let Some(mailbox) = maildir::mailbox(&f) else {
            continue;
        };
        let folder = dir.join(&f);
        let known = std::fs::read_to_string(folder.join("dovecot-keywords"))
            .map(|t| maildir::parse_keywords_file(&t))
            .unwrap_or_default();
        let mut files = Vec::new();
        for sub in ["cur", "new"] {
            let Ok(entries) = std::fs::read_dir(folder.join(sub)) else {
                continue;
            };
            for e in entries {
                let e = e?;
                if e.file_type()?.is_file() {
                    let modified = e.metadata()?.modified().unwrap_or(SystemTime::now());
                    files.push((modified, e.path()));
                }
            }
        }
        files.sort();
        for (modified, path) in files {
            let raw =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (flags, keywords) = maildir::parse_info(&name, &known);
            let date = modified
                .duration_since(UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs() as i64);
            append(c, address, &mailbox, &raw, flags, keywords, date)
                .with_context(|| format!("importing {}", path.display()))?;
            total += 1;
        }
    }
    table::done(&format!("imported {total} messages into {address}"), json);
    Ok(())
}

/// Appends every message of an mbox file to one mailbox of `address`.
pub fn import_mbox(
    c: &Client,
    address: &str,
    file: &Path,
    mailbox: &str,
    json: bool,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let messages = mbox::split(&bytes);
    if messages.is_empty() && !bytes.is_empty() {
        bail!("{} is not an mbox (no \"From \" line)", file.display());
    }
    for (n, m) in messages.iter().enumerate() {
        append(
            c,
            address,
            mailbox,
            &m.raw,
            m.flags.clone(),
            Vec::new(),
            m.internal_date,
        )
        .with_context(|| format!("importing message {} of {}", n + 1, file.display()))?;
    }
    table::done(
        &format!(
            "imported {} messages into {address} {mailbox}",
            messages.len()
        ),
        json,
    );
    Ok(())
}

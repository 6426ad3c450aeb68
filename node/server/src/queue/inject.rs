//! Re-injecting a message file into the queue (operators' "put it back in the outbox"): RFC 5322
//! text, optionally preceded by envelope lines in Mailtraq's pending-folder format (`FROM:
//! <sender>` and one `RCPT: <recipient>` per recipient), with the envelope on the command line
//! taking precedence. Recipients resolve like SMTP's: local ones are delivered, remote ones
//! queued.

use std::collections::BTreeSet;

use tern_proto::Address;
use tern_store::model::{now, queue::Notify, resolve::Recipient as Resolved};

use crate::{
    delivery,
    smtp::session::{MailTransaction, Recipient},
};

/// The envelope lines at the top of a file, and where the message starts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileEnvelope {
    /// `FROM:` (empty for `<>`).
    pub from: Option<String>,
    /// `RCPT:` lines.
    pub rcpts: Vec<String>,
    /// Byte offset of the message after the envelope lines.
    pub start: usize,
}

fn angle(v: &str) -> String {
    v.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

/// Reads `FROM:`/`RCPT:` lines (upper case, as Mailtraq writes them) from the top of `file`.
/// They count as an envelope only when at least one `RCPT:` line is among them, so a message
/// that merely starts with a `From:` header is not mistaken for one.
pub fn parse_envelope(file: &[u8]) -> FileEnvelope {
    let mut env = FileEnvelope::default();
    let mut pos = 0;
    while pos < file.len() {
        let end = file[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(file.len(), |i| pos + i + 1);
        let line = String::from_utf8_lossy(&file[pos..end]);
        let line = line.trim_end();
        if let Some(v) = line.strip_prefix("FROM:") {
            env.from = Some(angle(v));
        } else if let Some(v) = line.strip_prefix("RCPT:") {
            env.rcpts.push(angle(v));
        } else {
            break;
        }
        pos = end;
    }
    if env.rcpts.is_empty() {
        return FileEnvelope::default();
    }
    env.start = pos;
    env
}

/// Why a file could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// The envelope is missing or wrong.
    #[error("{0}")]
    Envelope(String),
    /// Filing failed.
    #[error("{0:?}")]
    Store(delivery::DeliverError),
}

/// Files `file` with the given envelope (or the file's own); returns the queue id. `why` is
/// what message tracking records of where it came from.
pub async fn inject(
    ctx: &super::QueueContext,
    file: &[u8],
    from: Option<String>,
    to: Vec<String>,
    why: &str,
) -> Result<String, InjectError> {
    let header = parse_envelope(file);
    let message = &file[header.start..];
    if message.iter().all(u8::is_ascii_whitespace) {
        return Err(InjectError::Envelope("the file holds no message".into()));
    }
    let from = from.or(header.from).ok_or_else(|| {
        InjectError::Envelope(
            "no sender: give --from, or start the file with a FROM: <sender> line".into(),
        )
    })?;
    if !from.is_empty() {
        Address::parse(&from).map_err(|e| InjectError::Envelope(format!("sender {from}: {e}")))?;
    }
    let to = if to.is_empty() { header.rcpts } else { to };
    if to.is_empty() {
        return Err(InjectError::Envelope(
            "no recipients: give --to, or RCPT: <recipient> lines at the top of the file".into(),
        ));
    }
    let mut recipients = Vec::new();
    for r in &to {
        let address =
            Address::parse(r).map_err(|e| InjectError::Envelope(format!("recipient {r}: {e}")))?;
        let resolved = ctx
            .dir
            .resolve(&address)
            .await
            .map_err(|e| InjectError::Store(delivery::DeliverError::Model(e)))?;
        let (accounts, remote) = match resolved {
            Resolved::Local(res) => (res.accounts, res.remote),
            Resolved::NotLocal => (BTreeSet::new(), BTreeSet::from([r.clone()])),
            Resolved::Unknown => {
                return Err(InjectError::Envelope(format!(
                    "recipient {r}: no such local address"
                )));
            }
        };
        recipients.push(Recipient {
            address: r.clone(),
            accounts,
            remote,
            orcpt: None,
            notify: Notify::default(),
        });
    }
    let id = delivery::queue_id();
    let return_path = format!("Return-Path: <{from}>\r\n");
    let mut raw = return_path.clone().into_bytes();
    raw.extend(
        format!(
            "Received: by {} (Tern re-inject) id {id};\r\n\t{}\r\n",
            ctx.hostname,
            tern_proto::date::rfc5322(now())
        )
        .into_bytes(),
    );
    raw.extend_from_slice(message);
    let mail = MailTransaction {
        from,
        body_8bit: !message.is_ascii(),
        recipients,
        ..MailTransaction::default()
    };
    delivery::store(
        &ctx.dir,
        None,
        ctx.config.shards,
        None,
        &mail,
        &id,
        &raw,
        return_path.len() as u32,
        crate::tracking::Origin {
            kind: "injected",
            detail: why.to_string(),
            about: None,
        },
    )
    .await
    .map_err(InjectError::Store)?;
    tracing::info!(queue_id = %id, from = %mail.from, recipients = mail.recipients.len(), "message re-injected");
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailtraq_envelope_lines() {
        let f = b"FROM: <a@x.test>\r\nRCPT: b@y.test\r\nRCPT: <c@z.test>\r\nSubject: hi\r\n\r\nbody\r\n";
        let e = parse_envelope(f);
        assert_eq!(e.from.as_deref(), Some("a@x.test"));
        assert_eq!(e.rcpts, vec!["b@y.test", "c@z.test"]);
        assert!(f[e.start..].starts_with(b"Subject: hi"));
    }

    #[test]
    fn plain_messages_have_no_envelope() {
        let f = b"From: a@x.test\r\nSubject: hi\r\n\r\nbody";
        let e = parse_envelope(f);
        assert_eq!(e, FileEnvelope::default());
        let header_only = parse_envelope(b"FROM: <a@x.test>\nSubject: x\n\nb");
        assert_eq!(
            header_only,
            FileEnvelope::default(),
            "no RCPT: line, no envelope"
        );
        let null = parse_envelope(b"FROM: <>\nRCPT: <b@y.test>\nSubject: x\n\nb");
        assert_eq!(null.from.as_deref(), Some(""));
    }
}

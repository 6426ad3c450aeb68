//! ENABLE (RFC 5161): turns on CONDSTORE, QRESYNC (which implies CONDSTORE), UTF8=ACCEPT
//! (RFC 6855: mailbox names in UTF-8 from then on) and IMAP4rev2 (RFC 9051: UTF-8 names, no
//! `\Recent`, ESEARCH answers); other names are ignored as the RFC requires. Also the CONDSTORE enabling other commands do (a FETCH or
//! SEARCH with MODSEQ, a STORE with UNCHANGEDSINCE: RFC 7162 §3.1), which tells the client the
//! selected mailbox's highest MODSEQ the first time.

use std::num::NonZeroU64;

use tern_proto::imap::types::{
    core::{Tag, Vec1},
    extensions::enable::CapabilityEnable,
    response::{Code, Data, StatusKind},
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `ENABLE cap...`.
pub fn handle_enable<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    caps: Vec1<CapabilityEnable<'static>>,
) -> Flow {
    let mut enabled = Vec::new();
    for c in caps.into_inner() {
        let name = c.to_string().to_ascii_uppercase();
        match name.as_str() {
            "CONDSTORE" if !s.reporting.condstore => {
                condstore(s);
                enabled.push(c);
            }
            "QRESYNC" if !s.reporting.qresync => {
                s.reporting.qresync = true;
                condstore(s);
                enabled.push(c);
            }
            "UTF8=ACCEPT" if !s.reporting.utf8 => {
                s.reporting.utf8 = true;
                enabled.push(c);
            }
            // IMAP4rev2 names mailboxes in UTF-8 too (RFC 9051 §5.1).
            "IMAP4REV2" if !s.reporting.rev2 => {
                s.reporting.rev2 = true;
                s.reporting.utf8 = true;
                enabled.push(c);
            }
            _ => {}
        }
    }
    s.data(Data::Enabled {
        capabilities: enabled,
    });
    s.ok(&tag, None, "ENABLE completed")
}

/// Turns CONDSTORE reporting on. The first time, with a mailbox selected, the client hears
/// `* OK [HIGHESTMODSEQ n]` before anything else the command answers (RFC 7162 §3.1).
pub fn condstore<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) {
    if s.reporting.condstore {
        return;
    }
    s.reporting.condstore = true;
    if let Some(modseq) = s.selected.as_ref().map(|sel| sel.modseq) {
        s.reply(
            None,
            StatusKind::Ok,
            Some(Code::HighestModSeq(
                NonZeroU64::new(modseq).unwrap_or(NonZeroU64::MIN),
            )),
            "highest MODSEQ",
        );
    }
}

//! ENABLE (RFC 5161): turns on CONDSTORE and QRESYNC (QRESYNC implies CONDSTORE); other names
//! are ignored as the RFC requires.

use tern_proto::imap::types::{
    core::{Tag, Vec1},
    extensions::enable::CapabilityEnable,
    response::Data,
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
                s.reporting.condstore = true;
                enabled.push(c);
            }
            "QRESYNC" if !s.reporting.qresync => {
                s.reporting.qresync = true;
                s.reporting.condstore = true;
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

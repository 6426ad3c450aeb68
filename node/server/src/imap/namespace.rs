//! NAMESPACE (RFC 2342): one personal namespace, "" with "/" as the separator.

use tern_proto::imap::types::{
    core::{QuotedChar, Tag},
    extensions::namespace::Namespace,
    response::Data,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `NAMESPACE`.
pub fn handle_namespace<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
) -> Flow {
    let personal = vec![Namespace::new(
        "".try_into().expect("empty string is valid"),
        QuotedChar::try_from('/').ok(),
    )];
    s.data(Data::Namespace {
        personal,
        other: Vec::new(),
        shared: Vec::new(),
    });
    s.ok(&tag, None, "NAMESPACE completed")
}

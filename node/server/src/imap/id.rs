//! ID (RFC 2971): logs what the client says it is and names the server.

use tern_proto::imap::types::{
    core::{IString, NString, Tag},
    response::Data,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `ID (...)` or `ID NIL`.
pub fn handle_id<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    params: Option<Vec<(IString<'static>, NString<'static>)>>,
) -> Flow {
    let client: Vec<String> = params
        .unwrap_or_default()
        .iter()
        .take(30)
        .map(|(k, v)| {
            format!(
                "{}={}",
                String::from_utf8_lossy(k.as_ref()),
                v.0.as_ref()
                    .map(|v| String::from_utf8_lossy(v.as_ref()).into_owned())
                    .unwrap_or_default()
            )
        })
        .collect();
    tracing::info!(session = %s.id, client = %client.join(" "), "IMAP client ID");
    let pair = |k: &str, v: &str| {
        (
            IString::try_from(k.to_string()).expect("ascii"),
            NString::try_from(v.to_string()).expect("ascii"),
        )
    };
    s.data(Data::Id {
        parameters: Some(vec![
            pair("name", "Tern"),
            pair("version", env!("CARGO_PKG_VERSION")),
        ]),
    });
    s.ok(&tag, None, "ID completed")
}

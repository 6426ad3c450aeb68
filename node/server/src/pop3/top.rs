//! TOP: the header and the first lines of a message's body.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    retr,
    session::{Flow, Session},
};

/// Handles `TOP msg lines`.
pub async fn handle_top<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    n: u32,
    lines: u32,
) -> Flow {
    retr::send(s, n, Some(lines)).await
}

//! The cluster port's wire format: one request, one response, each a JSON document behind a
//! four-byte big-endian length, over a mutually authenticated TLS connection. Raft's three RPCs,
//! the cluster's own requests (join, operators' changes) and the node's requests to its peers
//! (an opaque document the server defines: live sessions, kicks) share it.

use openraft::{
    error::{InstallSnapshotError, RaftError},
    raft::{
        AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest,
        InstallSnapshotResponse, VoteRequest, VoteResponse,
    },
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::types::{Member, TypeConfig};

/// Largest frame accepted (a snapshot of the cluster state is far smaller).
pub const MAX_FRAME: u32 = 64 << 20;

/// A request on the cluster port.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Raft AppendEntries (heartbeats too).
    Append(AppendEntriesRequest<TypeConfig>),
    /// Raft RequestVote.
    Vote(VoteRequest<u64>),
    /// Raft InstallSnapshot (one chunk).
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// A node asks to join (forwarded to the leader by any member).
    Join {
        /// Its node id.
        id: u64,
        /// Its addresses.
        member: Member,
        /// A member starting again (with its Raft log), not a new node: its addresses may
        /// change before the old ones are known to be dead.
        rejoin: bool,
    },
    /// An operator's change (forwarded to the leader by any member).
    Admin(Admin),
    /// A request of the node's own (the server defines the document), answered by the
    /// handler the node registered.
    Node(serde_json::Value),
}

/// Operators' changes to the membership.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum Admin {
    /// Hand every shard of the node to the others (before it is stopped).
    Drain(u64),
    /// Remove the node from the cluster.
    Leave(u64),
}

/// The answer to a [`Request`].
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    /// To `Append`.
    Append(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    /// To `Vote`.
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    /// To `Snapshot`.
    Snapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    /// To `Join`: joined, or why not.
    Join(Result<(), String>),
    /// To `Admin`: done, or why not.
    Admin(Result<(), String>),
    /// To `Node`: the handler's answer, or why there is none.
    Node(Result<serde_json::Value, String>),
}

/// Writes one frame.
pub async fn write<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    value: &T,
) -> std::io::Result<()> {
    let body = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|l| *l <= MAX_FRAME)
        .ok_or_else(|| std::io::Error::other("frame too large"))?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(&body).await?;
    w.flush().await
}

/// Reads one frame; `None` at a clean end of stream.
pub async fn read<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
) -> std::io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes is over the limit"
        )));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_oversize_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        write(&mut a, &Response::Join(Err("no".into())))
            .await
            .expect("write");
        let back: Option<Response> = read(&mut b).await.expect("read");
        assert!(matches!(back, Some(Response::Join(Err(m))) if m == "no"));
        a.write_all(&(MAX_FRAME + 1).to_be_bytes())
            .await
            .expect("write");
        let err = read::<_, Response>(&mut b).await.expect_err("refused");
        assert!(err.to_string().contains("over the limit"), "{err}");
        drop(a);
        assert!(read::<_, Response>(&mut b).await.expect("eof").is_none());
    }
}

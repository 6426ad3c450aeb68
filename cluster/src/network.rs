//! The client side of the cluster port: openraft's network (one connection per peer, reused,
//! reopened after an error) and the cluster's own requests. Every Raft RPC's outcome is
//! recorded in [`Liveness`], which is how the leader sees a member stop answering — through
//! Raft's own heartbeats, not a separate probe.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use openraft::{
    RaftNetwork, RaftNetworkFactory,
    error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable},
    network::RPCOption,
    raft::{
        AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest,
        InstallSnapshotResponse, VoteRequest, VoteResponse,
    },
};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

use crate::{
    metrics::METRICS,
    rpc::{self, Request, Response},
    tls::ClusterTls,
    types::{Member, TypeConfig},
};

/// When each peer last answered a Raft RPC.
#[derive(Clone, Default)]
pub struct Liveness(Arc<Mutex<HashMap<u64, Instant>>>);

impl Liveness {
    fn answered(&self, id: u64) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(id, Instant::now());
        }
    }

    /// When `id` last answered.
    pub fn last(&self, id: u64) -> Option<Instant> {
        self.0.lock().ok()?.get(&id).copied()
    }
}

/// How this node opens connections to peers' cluster ports: with its TLS, and from
/// `cluster.source_address` when one is set (the OS chooses otherwise).
#[derive(Clone)]
pub struct Dialer {
    /// TLS both ways.
    pub tls: ClusterTls,
    /// The local address outgoing connections leave from.
    pub source: Option<IpAddr>,
}

impl Dialer {
    /// Opens a connection to a peer's cluster port.
    pub async fn connect(
        &self,
        addr: &str,
        timeout: Duration,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        tokio::time::timeout(timeout, async {
            let tcp = match self.source {
                None => TcpStream::connect(addr).await?,
                Some(ip) => {
                    let target = tokio::net::lookup_host(addr)
                        .await?
                        .find(|a| a.is_ipv4() == ip.is_ipv4())
                        .ok_or_else(|| {
                            std::io::Error::other(format!(
                                "{addr} has no address of the family of {ip}"
                            ))
                        })?;
                    let socket = match ip {
                        IpAddr::V4(_) => TcpSocket::new_v4()?,
                        IpAddr::V6(_) => TcpSocket::new_v6()?,
                    };
                    socket.bind(SocketAddr::new(ip, 0))?;
                    socket.connect(target).await?
                }
            };
            tcp.set_nodelay(true)?;
            self.tls
                .connector
                .connect(ClusterTls::server_name(), tcp)
                .await
        })
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connecting to {addr}"),
            )
        })?
    }

    /// One request and its response on a fresh connection (for the rare cluster requests).
    pub async fn call(
        &self,
        addr: &str,
        request: &Request,
        timeout: Duration,
    ) -> std::io::Result<Response> {
        let mut conn = self.connect(addr, timeout).await?;
        tokio::time::timeout(timeout, async {
            rpc::write(&mut conn, request).await?;
            rpc::read(&mut conn)
                .await?
                .ok_or_else(|| std::io::Error::other("the peer closed the connection"))
        })
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, format!("waiting for {addr}"))
        })?
    }
}

/// Makes a client per peer.
#[derive(Clone)]
pub struct Network {
    /// Opens the connections.
    pub dialer: Dialer,
    /// Peers' answers.
    pub liveness: Liveness,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &Member) -> Peer {
        Peer {
            target,
            addr: node.raft.clone(),
            dialer: self.dialer.clone(),
            liveness: self.liveness.clone(),
            conn: None,
        }
    }
}

/// The connection to one peer.
pub struct Peer {
    target: u64,
    addr: String,
    dialer: Dialer,
    liveness: Liveness,
    conn: Option<TlsStream<TcpStream>>,
}

impl Peer {
    /// One request and its answer, connecting first when needed, all within `budget`.
    async fn exchange(&mut self, request: &Request, budget: Duration) -> std::io::Result<Response> {
        let deadline = Instant::now() + budget;
        if self.conn.is_none() {
            self.conn = Some(self.dialer.connect(&self.addr, budget).await?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(std::io::Error::other("no connection"));
        };
        let answer = tokio::time::timeout_at(deadline.into(), async {
            rpc::write(conn, request).await?;
            rpc::read(conn)
                .await?
                .ok_or_else(|| std::io::Error::other("the peer closed the connection"))
        })
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer in time",
            ))
        });
        if answer.is_err() {
            self.conn = None;
        }
        answer
    }

    /// Sends a Raft RPC, recording the outcome and its time.
    async fn send<E: std::error::Error>(
        &mut self,
        kind: &str,
        request: Request,
        option: &RPCOption,
    ) -> Result<Response, RPCError<u64, Member, RaftError<u64, E>>> {
        let started = Instant::now();
        // openraft gives up on the RPC at `hard_ttl` itself and logs that as an ERROR; a
        // connection and an answer within nine tenths of it report a silent peer (a member
        // stopping, or one too busy to answer) as unreachable, as a dead one is.
        let budget = option.hard_ttl().mul_f64(0.9);
        let out = self.exchange(&request, budget).await;
        METRICS
            .rpc_seconds
            .with_label_values(&[kind])
            .observe(started.elapsed().as_secs_f64());
        match out {
            Ok(r) => {
                self.liveness.answered(self.target);
                Ok(r)
            }
            Err(e) => {
                METRICS.heartbeat_failures.inc();
                tracing::debug!(peer = self.target, address = %self.addr, error = %e, rpc = kind, "cluster RPC failed");
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
        }
    }
}

fn unexpected<E: std::error::Error>(target: u64) -> RPCError<u64, Member, RaftError<u64, E>> {
    RPCError::Network(NetworkError::new(&std::io::Error::other(format!(
        "node {target} answered another request"
    ))))
}

fn remote<T, E: std::error::Error>(
    target: u64,
    r: Result<T, RaftError<u64, E>>,
) -> Result<T, RPCError<u64, Member, RaftError<u64, E>>> {
    r.map_err(|e| RPCError::RemoteError(RemoteError::new(target, e)))
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, Member, RaftError<u64>>> {
        match self.send("append", Request::Append(rpc), &option).await? {
            Response::Append(r) => remote(self.target, r),
            _ => Err(unexpected(self.target)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, Member, RaftError<u64, InstallSnapshotError>>,
    > {
        match self
            .send("snapshot", Request::Snapshot(rpc), &option)
            .await?
        {
            Response::Snapshot(r) => remote(self.target, r),
            _ => Err(unexpected(self.target)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, Member, RaftError<u64>>> {
        match self.send("vote", Request::Vote(rpc), &option).await? {
            Response::Vote(r) => remote(self.target, r),
            _ => Err(unexpected(self.target)),
        }
    }
}

//! TLS session resumption on every TLS listener (implicit and STARTTLS): stateless tickets
//! (rustls' rotating ChaCha20-Poly1305 ticketer, keys random per node and replaced every
//! 6 hours) for TLS 1.3 and TLS 1.2 clients that take them, and a bounded session-id cache for
//! TLS 1.2 clients that do not. Both outlive certificate reloads, so a renewal does not make
//! every client do a full handshake again. A client that reconnects to another node of a
//! cluster does a full handshake there (the ticket keys are per node).

use std::sync::{Arc, LazyLock};

use prometheus::{IntCounterVec, register_int_counter_vec};
use rustls::{
    HandshakeKind, ServerConfig,
    server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions},
};

/// TLS 1.2 sessions remembered by id (a few hundred bytes each).
const SESSION_CACHE_ENTRIES: usize = 4096;

static HANDSHAKES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "tern_tls_handshakes_total",
        "Completed TLS handshakes on the mail listeners by kind (full; resumed: a session ticket \
         or id spared the key exchange and certificate)",
        &["kind"]
    )
    .expect("metric registers once")
});

/// Creates the metric family at 0.
pub fn init() {
    for kind in ["full", "resumed"] {
        HANDSHAKES.with_label_values(&[kind]);
    }
}

/// Counts a completed handshake by its kind.
pub fn count(kind: Option<HandshakeKind>) {
    let label = match kind {
        Some(HandshakeKind::Resumed) => "resumed",
        _ => "full",
    };
    HANDSHAKES.with_label_values(&[label]).inc();
}

/// The node's ticket keys and session cache, shared by each configuration it loads.
pub struct Resumption {
    ticketer: Arc<dyn ProducesTickets>,
    sessions: Arc<dyn StoresServerSessions>,
}

impl Resumption {
    /// New keys and an empty cache.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            ticketer: rustls::crypto::ring::Ticketer::new()
                .map_err(|e| anyhow::anyhow!("TLS session tickets: {e}"))?,
            sessions: ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES),
        })
    }

    /// Makes `config` issue and accept this node's tickets and cached sessions.
    pub fn apply(&self, config: &mut ServerConfig) {
        config.ticketer = self.ticketer.clone();
        config.session_storage = self.sessions.clone();
    }
}

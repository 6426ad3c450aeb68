//! One shutdown signal for the whole node: SIGTERM or SIGINT flips a watch channel that every
//! listener and background task selects on.

use tokio::sync::watch;

/// The sending half; dropped or set when the node stops.
#[derive(Clone)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    /// A new, not yet triggered signal.
    pub fn new() -> Self {
        Self {
            tx: watch::channel(false).0,
        }
    }

    /// Triggers shutdown.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether shutdown was triggered.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once shutdown is triggered.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

/// Listens for SIGTERM and SIGINT from the moment it is called, so a signal that arrives
/// before the returned future is first polled (right after "tern ready") is not lost; the
/// future resolves on either.
pub fn signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let listening = signal(SignalKind::terminate())
            .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)));
        async move {
            match listening {
                Ok((mut term, mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM and SIGINT");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

//! Background maintenance of a running node: certificate reloads and renewal (deleted mail is
//! reclaimed by [`super::reclaim`]).

use std::{sync::Arc, time::Duration};

use crate::{
    shutdown::Shutdown,
    tls::{self, TlsConfig},
};

/// How often the certificate files are checked for renewal.
const TLS_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// Picks up changed certificate files; renews the generated certificate (data directory and
/// host name given) a month before it ends.
pub async fn reload_tls(
    tls: Arc<TlsConfig>,
    generated: Option<(std::path::PathBuf, Vec<String>)>,
    shutdown: Shutdown,
) {
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(TLS_RELOAD_INTERVAL) => {
                if let Some((dir, names)) = &generated
                    && let Err(e) = tls::renew_if_due(dir, names)
                {
                    tracing::error!(error = %format!("{e:#}"), "renewing the generated certificate failed");
                }
                tls.reload_if_changed();
            }
        }
    }
}

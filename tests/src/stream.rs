//! The boxed stream the raw POP3 and IMAP test clients read and write, plain or TLS, and the
//! TLS handshake with the server's generated certificate (named `localhost`).

use std::sync::Arc;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

/// A plain or TLS client stream.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Runs the TLS handshake over `stream`.
pub async fn tls(
    stream: Box<dyn Io>,
    config: &Arc<rustls::ClientConfig>,
) -> anyhow::Result<Box<dyn Io>> {
    let name = ServerName::try_from("localhost")?;
    Ok(Box::new(
        TlsConnector::from(config.clone())
            .connect(name, stream)
            .await?,
    ))
}

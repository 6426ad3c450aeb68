//! A client stream that speaks IMAP `COMPRESS=DEFLATE` over another stream, on the server's
//! own codec (`tern_server::net::deflate`; the Python test uses zlib, an independent one),
//! counting the compressed bytes read so a benchmark can report bytes on the wire.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
};

use tern_server::net::deflate::Deflate;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::stream::Io;

/// The compressing stream.
pub struct Deflated {
    inner: Box<dyn Io>,
    codec: Deflate,
    /// Inflated bytes not yet read.
    plain: Vec<u8>,
    /// Compressed bytes not yet written.
    wire_out: Vec<u8>,
    received: Arc<AtomicU64>,
}

impl Deflated {
    /// Wraps `inner` with `codec` (new, or one that compressed the start of the stream already);
    /// `received` counts compressed bytes read.
    pub fn new(inner: Box<dyn Io>, codec: Deflate, received: Arc<AtomicU64>) -> Self {
        Self {
            inner,
            codec,
            plain: Vec::new(),
            wire_out: Vec::new(),
            received,
        }
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.wire_out.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.wire_out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wire_out.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Deflated {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.plain.is_empty() {
            if this.codec.has_input() {
                let n = this
                    .codec
                    .inflate(&mut this.plain, 64 * 1024)
                    .map_err(|e| io::Error::other(format!("{e:?}")))?;
                if n > 0 {
                    break;
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut raw = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut raw))?;
            if raw.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
            this.received
                .fetch_add(raw.filled().len() as u64, Ordering::Relaxed);
            this.codec.raw_mut().extend_from_slice(raw.filled());
        }
        let n = this.plain.len().min(buf.remaining());
        buf.put_slice(&this.plain[..n]);
        this.plain.drain(..n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Deflated {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        this.codec.compress(buf, &mut this.wire_out);
        // Taken; what the socket does not take now goes out on the next write or flush.
        let _ = this.poll_drain(cx)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

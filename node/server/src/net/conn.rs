//! A buffered connection for line protocols: unconsumed input, queued output flushed before
//! every blocking read (so pipelining clients are never left waiting), reads against a
//! deadline, writes that must make progress within the write timeout (a client that never
//! reads is dropped), raw lines with a cap, and the in-place upgrade to TLS. Bytes each way and
//! whether TLS is on are kept where the node's live session list can read them. Once IMAP
//! `COMPRESS` starts, both directions pass through a [`Deflate`] between the buffers and the
//! stream (the byte counts stay those on the wire).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    time::Instant,
};

use super::{deflate::Deflate, stream::MaybeTls};

/// Room made for one read.
const READ: usize = 16 * 1024;

/// Room made for a read after [`Conn::release_buffers`] (a waiting client's next command).
const IDLE_READ: usize = 1024;

/// Runs an I/O step that must finish within `limit`, arming the timer only when the step does
/// not finish at once (a write to a socket with room, most of them).
async fn within<T>(
    limit: Duration,
    step: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    use futures::FutureExt;
    let mut step = std::pin::pin!(step);
    if let Some(done) = (&mut step).now_or_never() {
        return done;
    }
    tokio::time::timeout(limit, step)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "client not reading"))?
}

/// Writes out `bytes`, each write making progress within `limit`, counting them in `wire`.
/// What is written leaves the buffer at once, so a flush cancelled half-way (an IDLE wake-up
/// racing the read) never sends a byte twice.
async fn write_all<S: AsyncWrite + Unpin>(
    io: &mut S,
    bytes: &mut Vec<u8>,
    limit: Duration,
    wire: &Wire,
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let n = within(limit, io.write(bytes)).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        bytes.drain(..n);
        wire.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// Reads once into the spare room of `into`, before `deadline` when there is one; a closed or
/// failed stream is [`ReadError::Closed`].
async fn read_within<S: AsyncRead + Unpin>(
    io: &mut S,
    into: &mut Vec<u8>,
    deadline: Option<Instant>,
) -> Result<usize, ReadError> {
    let read = io.read_buf(into);
    let read = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, read)
            .await
            .map_err(|_| ReadError::Timeout)?,
        None => read.await,
    };
    match read {
        Err(_) | Ok(0) => Err(ReadError::Closed),
        Ok(n) => Ok(n),
    }
}

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The client was silent, or too slow, past the deadline.
    Timeout,
    /// The client closed the connection, stopped reading, or the socket failed.
    Closed,
}

/// What another task may read of a connection while it runs: bytes each way and TLS.
#[derive(Debug, Default)]
pub struct Wire {
    /// Bytes received.
    pub bytes_in: AtomicU64,
    /// Bytes sent.
    pub bytes_out: AtomicU64,
    /// Whether TLS is active.
    pub tls: AtomicBool,
}

impl Wire {
    /// Bytes received.
    pub fn received(&self) -> u64 {
        self.bytes_in.load(Ordering::Relaxed)
    }

    /// Bytes sent.
    pub fn sent(&self) -> u64 {
        self.bytes_out.load(Ordering::Relaxed)
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.tls.load(Ordering::Relaxed)
    }
}

/// The connection.
pub struct Conn<S> {
    io: MaybeTls<S>,
    input: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    /// Reads make room for [`IDLE_READ`] bytes only: set by [`Conn::release_buffers`], cleared
    /// once a read fills that room (the client is sending more than a short line).
    lean: bool,
    write_timeout: Duration,
    wire: Arc<Wire>,
    /// After `COMPRESS`: the codec and its compressed output.
    deflate: Option<Box<(Deflate, Vec<u8>)>>,
    /// Bytes on the wire when compression started, and sent since before compression.
    deflated_from: u64,
    plain_out: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Conn<S> {
    /// Wraps a stream; a write that makes no progress for `write_timeout` fails.
    pub fn new(io: MaybeTls<S>, write_timeout: Duration) -> Self {
        let wire = Arc::new(Wire::default());
        wire.tls.store(io.is_tls(), Ordering::Relaxed);
        Self {
            io,
            input: Vec::with_capacity(4096),
            pos: 0,
            out: Vec::with_capacity(1024),
            lean: false,
            write_timeout,
            wire,
            deflate: None,
            deflated_from: 0,
            plain_out: 0,
        }
    }

    /// Bytes each way and TLS, readable by other tasks.
    pub fn wire(&self) -> Arc<Wire> {
        self.wire.clone()
    }

    /// Input received and not yet consumed.
    pub fn pending(&self) -> &[u8] {
        &self.input[self.pos..]
    }

    /// Marks `n` pending bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.input.len());
    }

    /// Output queued for the next flush.
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Sends what is queued (compressed, once compression is on). Each write must make progress
    /// within the write timeout, so a client that stops reading cannot hold the session (and
    /// its memory) forever.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        let io = &mut self.io;
        match self.deflate.as_deref_mut() {
            None => write_all(io, &mut self.out, self.write_timeout, &self.wire).await?,
            Some((codec, wire_out)) => {
                if !self.out.is_empty() {
                    codec.compress(&self.out, wire_out);
                    self.plain_out += self.out.len() as u64;
                    self.out.clear();
                }
                write_all(io, wire_out, self.write_timeout, &self.wire).await?;
            }
        }
        within(self.write_timeout, self.io.flush()).await
    }

    /// Sends the queued output once it is large, so a client pipelining commands whose answers
    /// it does not read (FETCH, RETR) cannot make the server buffer them all; `false` when the
    /// client is gone or stopped reading.
    pub async fn flush_if_large(&mut self) -> bool {
        const LARGE: usize = 256 * 1024;
        self.out.len() < LARGE || self.flush().await.is_ok()
    }

    /// Flushes, then reads more input before `deadline`; returns how many bytes came.
    pub async fn fill_until(&mut self, deadline: Instant) -> Result<usize, ReadError> {
        self.fill(Some(deadline)).await
    }

    /// Flushes, then reads more input, before `deadline` when there is one (without, no timer
    /// is armed: a caller that keeps its own clock across many reads, as IDLE does, saves
    /// arming one per read); returns how many bytes came.
    pub async fn fill(&mut self, deadline: Option<Instant>) -> Result<usize, ReadError> {
        self.flush().await.map_err(|_| ReadError::Closed)?;
        if self.pos > 0 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        // Straight into the input's spare room (never zeroed, never a buffer in the session's
        // future): a little after `release_buffers` (an IDLE client sends `DONE`; a wake-up
        // that cancels the read must not grow it either), a read's worth otherwise.
        let room = if self.lean { IDLE_READ } else { READ };
        if self.deflate.is_some() {
            return self.fill_inflating(room, deadline).await;
        }
        self.input.reserve(room);
        let n = read_within(&mut self.io, &mut self.input, deadline).await?;
        if n >= room {
            self.lean = false;
        }
        self.wire.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    /// [`Conn::fill`] once compression is on: inflates what is buffered, reading compressed
    /// bytes until some input comes out; returns how many plain bytes came.
    async fn fill_inflating(
        &mut self,
        room: usize,
        deadline: Option<Instant>,
    ) -> Result<usize, ReadError> {
        let Some((codec, _)) = self.deflate.as_deref_mut() else {
            return Err(ReadError::Closed);
        };
        loop {
            if codec.has_input() {
                let n = codec.inflate(&mut self.input, room).map_err(|e| {
                    tracing::debug!(error = ?e, "compressed input unusable");
                    ReadError::Closed
                })?;
                if n > 0 {
                    if n >= room {
                        self.lean = false;
                    }
                    return Ok(n);
                }
            }
            let raw = codec.raw_mut();
            raw.reserve(room);
            let n = read_within(&mut self.io, raw, deadline).await?;
            self.wire.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Starts `COMPRESS=DEFLATE` at `level`, after the tagged OK went out in clear: from here
    /// both directions are compressed, and input the client sent after the command (`early`,
    /// what the protocol reader held, then what is pending here) is taken as compressed.
    pub fn start_deflate(&mut self, level: u32, early: &[u8]) {
        self.deflated_from = self.wire.sent();
        let mut codec = Deflate::new(level);
        codec.raw_mut().extend_from_slice(early);
        codec.raw_mut().extend_from_slice(self.pending());
        self.discard_input();
        self.deflate = Some(Box::new((codec, Vec::new())));
    }

    /// Whether `COMPRESS` is on.
    pub fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// Once `COMPRESS` is on: bytes sent since, before compression and on the wire.
    pub fn compressed_output(&self) -> Option<(u64, u64)> {
        self.deflate
            .as_ref()
            .map(|_| (self.plain_out, self.wire.sent() - self.deflated_from))
    }

    /// Parses pending input with `parse` (bytes in; bytes consumed and an item, or `None` when
    /// more input is needed), reading more until an item comes. The whole item must arrive
    /// within `timeout`: bytes trickling in do not restart the clock.
    pub async fn next_item<T>(
        &mut self,
        timeout: Duration,
        mut parse: impl FnMut(&[u8]) -> (usize, Option<T>),
    ) -> Result<T, ReadError> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.pending().is_empty() {
                let (used, item) = parse(self.pending());
                self.consume(used);
                if let Some(item) = item {
                    return Ok(item);
                }
            }
            self.fill_until(deadline).await?;
        }
    }

    /// Reads one raw line (a SASL response) without its line ending; `None` when it is over
    /// `max` bytes (the buffered input is dropped) or not UTF-8.
    pub async fn read_line(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<Option<String>, ReadError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(lf) = self.pending().iter().position(|b| *b == b'\n') {
                let line = &self.pending()[..lf];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let text = String::from_utf8(line.to_vec()).ok();
                self.consume(lf + 1);
                return Ok(text);
            }
            if self.pending().len() > max {
                self.discard_input();
                return Ok(None);
            }
            self.fill_until(deadline).await?;
        }
    }

    /// Gives back buffer memory while nothing is pending (before a long wait such as IDLE,
    /// so thousands of waiting sessions hold no read or write buffers).
    pub fn release_buffers(&mut self) {
        if self.pending().is_empty() {
            self.input = Vec::new();
            self.pos = 0;
            self.lean = true;
        }
        if self.out.is_empty() {
            self.out = Vec::new();
        }
        if let Some((codec, wire_out)) = self.deflate.as_deref_mut() {
            codec.release_buffers();
            if wire_out.is_empty() {
                *wire_out = Vec::new();
            }
        }
    }

    /// Drops input the client sent ahead (after STARTTLS/STLS, where it must not be trusted).
    pub fn discard_input(&mut self) -> usize {
        let dropped = self.input.len() - self.pos;
        self.input.clear();
        self.pos = 0;
        dropped
    }

    /// Upgrades to TLS in place; on failure the connection is unusable.
    pub async fn start_tls(&mut self, tls: &crate::tls::TlsConfig) -> std::io::Result<()> {
        let MaybeTls::Plain(plain) = std::mem::replace(&mut self.io, MaybeTls::Upgrading) else {
            return Err(std::io::Error::other("TLS is already active"));
        };
        let stream = tls.accept(plain).await?;
        self.io = MaybeTls::Tls(Box::new(stream));
        self.wire.tls.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.io.is_tls()
    }

    /// Protocol version and cipher, when encrypted.
    pub fn tls_description(&self) -> Option<String> {
        self.io.tls_description()
    }

    /// Flushes and closes (a TLS close_notify too), each within the write timeout.
    pub async fn close(&mut self) {
        let _ = self.flush().await;
        let _ = tokio::time::timeout(self.write_timeout, self.io.shutdown()).await;
    }

    /// Closes after refusing input the client is still sending (an oversize body): flushes the
    /// reply, ends the write side, then reads and drops what arrives for at most `wait` or
    /// `max` bytes, so that closing with unread input (a TCP reset) does not destroy the reply
    /// before the client reads it.
    pub async fn close_draining(&mut self, wait: Duration, max: usize) {
        self.close().await;
        self.discard_input();
        let deadline = Instant::now() + wait;
        let mut chunk = vec![0u8; READ];
        let mut dropped = 0;
        while dropped < max {
            match tokio::time::timeout_at(deadline, self.io.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => dropped += n,
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::{io::AsyncWriteExt, time::Instant};

    use super::*;

    #[tokio::test]
    async fn a_released_connection_reads_into_a_small_buffer_until_a_client_sends_more() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let mut conn = Conn::new(MaybeTls::Plain(server), Duration::from_secs(5));
        let mut client = client;
        client.write_all(b"a1 IDLE\r\n").await.expect("write");
        conn.fill_until(Instant::now() + Duration::from_secs(5))
            .await
            .expect("read");
        conn.consume(conn.pending().len());
        conn.release_buffers();
        // An IDLE session's read, cancelled by a wake-up, then again: the buffer stays small.
        for _ in 0..3 {
            let soon = Instant::now() + Duration::from_millis(1);
            assert!(matches!(
                conn.fill_until(soon).await,
                Err(ReadError::Timeout)
            ));
            assert!(
                conn.input.capacity() <= 2 * IDLE_READ,
                "{}",
                conn.input.capacity()
            );
        }
        client.write_all(b"DONE\r\n").await.expect("write");
        let n = conn
            .fill_until(Instant::now() + Duration::from_secs(5))
            .await
            .expect("read");
        assert_eq!(conn.pending(), b"DONE\r\n", "{n}");
        assert!(conn.input.capacity() <= 2 * IDLE_READ);
        // A client sending more than the small room: reads are a full read's worth again.
        conn.consume(conn.pending().len());
        client.write_all(&[b'x'; 8192]).await.expect("write");
        let mut got = 0;
        while got < 8192 {
            got += conn
                .fill_until(Instant::now() + Duration::from_secs(5))
                .await
                .expect("read");
        }
        assert!(!conn.lean);
        assert!(conn.input.capacity() >= READ, "{}", conn.input.capacity());
    }
}

//! The DEFLATE layer of IMAP `COMPRESS=DEFLATE` (RFC 4978) as a codec on buffers, without I/O:
//! raw deflate (RFC 1951, no zlib header) each way, every batch of output ended with a sync
//! flush so the peer can decode everything sent so far, and input inflated in bounded steps (a
//! few compressed bytes may stand for megabytes, so a read never inflates past the room asked
//! for). flate2 over miniz_oxide: pure Rust, MIT or Apache-2.0, already in the tree through
//! mail-auth.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Compressed input buffered below this is kept; a release drops larger buffers.
const KEEP: usize = 1024;

/// One connection's compressor and decompressor, with the compressed input not yet inflated.
pub struct Deflate {
    tx: Compress,
    rx: Decompress,
    raw: Vec<u8>,
    pos: usize,
    /// The last inflate filled the room it had: the decompressor may hold more output.
    full: bool,
    ended: bool,
}

/// Why inflating failed.
#[derive(Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The peer's bytes are not a deflate stream.
    Corrupt,
    /// The peer ended its deflate stream (a final block): nothing more can come.
    Ended,
}

impl Deflate {
    /// A fresh pair at `level` (0–9).
    pub fn new(level: u32) -> Self {
        Self {
            tx: Compress::new(Compression::new(level.min(9)), false),
            rx: Decompress::new(false),
            raw: Vec::new(),
            pos: 0,
            full: false,
            ended: false,
        }
    }

    /// Compresses `plain` onto the end of `wire`, ending with a sync flush.
    pub fn compress(&mut self, plain: &[u8], wire: &mut Vec<u8>) {
        let mut rest = plain;
        loop {
            // Text compresses; the worst case (incompressible data) adds a few bytes per block.
            wire.reserve(rest.len() / 2 + 64);
            let before = self.tx.total_in();
            let room = wire.capacity() - wire.len();
            let start = wire.len();
            // A compressor given room and a valid flush cannot fail (miniz returns only Ok,
            // BufError for no room, or StreamEnd for a finish we never ask for).
            let _ = self.tx.compress_vec(rest, wire, FlushCompress::Sync);
            rest = &rest[(self.tx.total_in() - before) as usize..];
            // Done when the input is taken and the flush ended short of the room it had.
            if rest.is_empty() && wire.len() - start < room {
                return;
            }
        }
    }

    /// Room for compressed bytes read from the peer (append to it, as `read_buf` does).
    pub fn raw_mut(&mut self) -> &mut Vec<u8> {
        if self.pos > 0 && self.pos == self.raw.len() {
            self.raw.clear();
            self.pos = 0;
        }
        &mut self.raw
    }

    /// Whether input is waiting to be inflated: compressed bytes not yet taken, or output the
    /// decompressor holds back because the last call's room was full.
    pub fn has_input(&self) -> bool {
        self.pos < self.raw.len() || self.full
    }

    /// Inflates waiting input onto the end of `plain`, at most `max` bytes; returns how many
    /// came (0 when the input so far ends inside a block: read more).
    pub fn inflate(&mut self, plain: &mut Vec<u8>, max: usize) -> Result<usize, InflateError> {
        if self.ended {
            return Err(InflateError::Ended);
        }
        let start = plain.len();
        plain.resize(start + max, 0);
        let (in_before, out_before) = (self.rx.total_in(), self.rx.total_out());
        let status = self.rx.decompress(
            &self.raw[self.pos..],
            &mut plain[start..],
            FlushDecompress::None,
        );
        let produced = (self.rx.total_out() - out_before) as usize;
        plain.truncate(start + produced);
        self.full = produced == max;
        self.pos += (self.rx.total_in() - in_before) as usize;
        match status {
            Ok(Status::StreamEnd) => {
                self.ended = true;
                if produced == 0 {
                    return Err(InflateError::Ended);
                }
            }
            Ok(_) => {}
            Err(_) => return Err(InflateError::Corrupt),
        }
        if self.pos == self.raw.len() {
            self.raw.clear();
            self.pos = 0;
        }
        Ok(produced)
    }

    /// Gives back the input buffer while nothing waits in it (before a long wait).
    pub fn release_buffers(&mut self) {
        if self.pos == self.raw.len() && self.raw.capacity() > KEEP {
            self.raw = Vec::new();
            self.pos = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate_all(d: &mut Deflate, wire: &[u8]) -> Vec<u8> {
        d.raw_mut().extend_from_slice(wire);
        let mut out = Vec::new();
        while d.has_input() {
            if d.inflate(&mut out, 100).expect("inflate") == 0 {
                break;
            }
        }
        out
    }

    #[test]
    fn each_flush_decodes_to_what_was_sent_so_far() {
        let (mut server, mut client) = (Deflate::new(6), Deflate::new(6));
        let mut wire = Vec::new();
        server.compress(b"* OK first\r\n", &mut wire);
        assert_eq!(inflate_all(&mut client, &wire), b"* OK first\r\n");
        // The second batch uses the first as history and still decodes alone.
        let mut wire = Vec::new();
        server.compress(b"* OK first\r\n* OK second\r\n", &mut wire);
        assert_eq!(
            inflate_all(&mut client, &wire),
            b"* OK first\r\n* OK second\r\n"
        );
    }

    #[test]
    fn a_large_incompressible_batch_is_sent_whole() {
        let mut plain = Vec::new();
        let mut x: u32 = 7;
        for _ in 0..300_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            plain.push((x >> 16) as u8);
        }
        let (mut server, mut client) = (Deflate::new(6), Deflate::new(6));
        let mut wire = Vec::new();
        server.compress(&plain, &mut wire);
        let got = inflate_all(&mut client, &wire);
        assert!(got == plain, "{} bytes back of {}", got.len(), plain.len());
    }

    #[test]
    fn a_bomb_is_inflated_in_bounded_steps() {
        let (mut server, mut client) = (Deflate::new(9), Deflate::new(9));
        let mut wire = Vec::new();
        server.compress(&vec![b'a'; 4 << 20], &mut wire);
        assert!(wire.len() < 64 * 1024, "{}", wire.len());
        client.raw_mut().extend_from_slice(&wire);
        let mut out = Vec::new();
        assert_eq!(client.inflate(&mut out, 1000), Ok(1000));
        assert_eq!(out.len(), 1000);
        assert!(client.has_input(), "the rest waits for the next read");
    }

    #[test]
    fn input_split_anywhere_decodes_the_same() {
        let (mut server, mut client) = (Deflate::new(6), Deflate::new(6));
        let mut wire = Vec::new();
        server.compress(b"a1 FETCH 1:* (FLAGS)\r\n", &mut wire);
        let mut out = Vec::new();
        for byte in &wire {
            client.raw_mut().push(*byte);
            while client.has_input() {
                if client.inflate(&mut out, 4).expect("inflate") == 0 {
                    break;
                }
            }
        }
        assert_eq!(out, b"a1 FETCH 1:* (FLAGS)\r\n");
    }

    #[test]
    fn garbage_is_refused() {
        let mut client = Deflate::new(6);
        client.raw_mut().extend_from_slice(&[0xff; 32]);
        assert_eq!(
            client.inflate(&mut Vec::new(), 100),
            Err(InflateError::Corrupt)
        );
    }
}

//! Message bodies: DATA (dot-stuffed, ends with CRLF.CRLF) and BDAT chunks, received with a hard
//! size cap. Past the cap the bytes are read and discarded so the session stays in sync and can
//! answer `552 5.3.4` once the body ends.

use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, DummyDataReceiver};

/// Which framing the body uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// DATA.
    Data,
    /// One BDAT chunk of this many bytes.
    Bdat(usize),
}

enum State {
    Data(DataReceiver),
    Bdat(BdatReceiver),
    Discard(DummyDataReceiver),
}

/// Receives one body (or one BDAT chunk) into a buffer.
pub struct Body {
    state: State,
    limit: usize,
    overflow: bool,
}

impl Body {
    /// Starts receiving; `buffer_len` bytes are already in the message (earlier chunks) and
    /// the message may not grow past `limit`.
    pub fn new(kind: BodyKind, buffer_len: usize, limit: usize) -> Self {
        let state = match kind {
            BodyKind::Data => State::Data(DataReceiver::new()),
            BodyKind::Bdat(n) if buffer_len.saturating_add(n) > limit => {
                State::Discard(DummyDataReceiver::new_bdat(n))
            }
            BodyKind::Bdat(n) => State::Bdat(BdatReceiver::new(n, false)),
        };
        let overflow = matches!(state, State::Discard(_));
        Self {
            state,
            limit,
            overflow,
        }
    }

    /// Feeds bytes; returns how many were consumed and whether the body (or chunk) is complete.
    pub fn ingest(&mut self, input: &[u8], buffer: &mut Vec<u8>) -> (usize, bool) {
        let mut iter = input.iter();
        let before = buffer.len();
        let done = match &mut self.state {
            State::Data(r) => r.ingest(&mut iter, buffer),
            State::Bdat(r) => r.ingest(&mut iter, buffer),
            State::Discard(r) => r.ingest(&mut iter),
        };
        let used = input.len() - iter.as_slice().len();
        if buffer.len() > self.limit {
            // Over the cap: drop what we have and discard the rest of the body.
            buffer.truncate(before.min(self.limit));
            if let State::Data(r) = &self.state {
                self.state = State::Discard(DummyDataReceiver::new_data(r));
            }
            self.overflow = true;
        }
        (used, done)
    }

    /// Whether the body went over the limit.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_unstuffs_and_stops_at_the_dot() {
        let mut b = Body::new(BodyKind::Data, 0, 1000);
        let mut buf = Vec::new();
        let (used, done) = b.ingest(b"Subject: x\r\n\r\n..hidden dot\r\n.\r\nQUIT\r\n", &mut buf);
        assert!(done);
        assert_eq!(buf, b"Subject: x\r\n\r\n.hidden dot\r\n");
        assert_eq!(used, 31);
    }

    #[test]
    fn oversize_data_is_discarded_to_the_end() {
        let mut b = Body::new(BodyKind::Data, 0, 10);
        let mut buf = Vec::new();
        let (_, done) = b.ingest(b"0123456789abcdef\r\nmore\r\n", &mut buf);
        assert!(!done && b.overflowed());
        let (_, done) = b.ingest(b"still more\r\n.\r\n", &mut buf);
        assert!(done && buf.len() <= 10);
    }

    #[test]
    fn bdat_takes_exact_bytes() {
        let mut b = Body::new(BodyKind::Bdat(5), 0, 100);
        let mut buf = Vec::new();
        assert_eq!(b.ingest(b"hel", &mut buf), (3, false));
        assert_eq!(b.ingest(b"loNOOP\r\n", &mut buf), (2, true));
        assert_eq!(buf, b"hello");
        let mut over = Body::new(BodyKind::Bdat(50), 60, 100);
        assert!(over.overflowed());
        assert_eq!(over.ingest(&[b'x'; 50], &mut buf), (50, true));
        assert_eq!(buf, b"hello");
    }
}

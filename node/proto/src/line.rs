//! Line framing with a hard cap, shared by the line-based protocols: bytes in, complete lines
//! out; a line over the cap is discarded up to its end and reported once, however it arrives.

/// What one framing step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, CRLF (or LF) included.
    Line(Vec<u8>),
    /// A line over the cap; its bytes were dropped.
    TooLong,
    /// No complete line yet; all input was taken.
    NeedMore,
}

/// Incremental line framer.
#[derive(Debug)]
pub struct LineFramer {
    max: usize,
    partial: Vec<u8>,
    discarding: bool,
}

impl LineFramer {
    /// A framer for lines of at most `max` bytes, CRLF included.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            partial: Vec::new(),
            discarding: false,
        }
    }

    /// Frames from `input`, returning the bytes consumed and what they gave.
    pub fn push(&mut self, input: &[u8]) -> (usize, Frame) {
        let Some(lf) = input.iter().position(|b| *b == b'\n') else {
            if !self.discarding {
                if self.partial.len() + input.len() > self.max {
                    self.partial.clear();
                    self.discarding = true;
                } else {
                    self.partial.extend_from_slice(input);
                }
            }
            return (input.len(), Frame::NeedMore);
        };
        let used = lf + 1;
        if self.discarding || self.partial.len() + used > self.max {
            self.partial.clear();
            self.discarding = false;
            return (used, Frame::TooLong);
        }
        self.partial.extend_from_slice(&input[..used]);
        (used, Frame::Line(std::mem::take(&mut self.partial)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_whole_split_and_overlong() {
        let mut f = LineFramer::new(8);
        assert_eq!(f.push(b"ab\r\ncd"), (4, Frame::Line(b"ab\r\n".to_vec())));
        assert_eq!(f.push(b"cd"), (2, Frame::NeedMore));
        assert_eq!(f.push(b"\r\n"), (2, Frame::Line(b"cd\r\n".to_vec())));
        assert_eq!(f.push(b"0123456789\r\nok\r\n"), (12, Frame::TooLong));
        assert_eq!(f.push(b"0123"), (4, Frame::NeedMore));
        assert_eq!(f.push(b"456789"), (6, Frame::NeedMore));
        assert_eq!(f.push(b"\nok\n"), (1, Frame::TooLong));
        assert_eq!(f.push(b"ok\n"), (3, Frame::Line(b"ok\n".to_vec())));
    }
}

//! What the reader hands imap-codec's fragmentizer, and what it throws away. Bytes are fed one
//! line (up to its line feed) or one literal (its announced length) at a time, so the
//! fragmentizer never holds more than the current message: limits can change between
//! messages, and memory stays bounded by the caps however the client sends. What must not be
//! kept is dropped here without being stored: the rest of a line over its cap, a refused
//! non-synchronising literal, and the rest of their message.

/// Where the feeder is in the client's byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Position {
    /// In a line, of which `fed` bytes went to the fragmentizer.
    Line { fed: usize },
    /// In a literal the fragmentizer expects, `left` bytes to go.
    Literal { left: u64 },
    /// Dropping a line up to its end; `tail` keeps its last bytes to see whether it announces
    /// a literal.
    DropLine { tail: Vec<u8> },
    /// Dropping a literal, `left` bytes to go.
    DropLiteral { left: u64 },
}

/// The outcome of one feeding step.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fed {
    /// Bytes went to the fragmentizer: let it work.
    Some(Vec<u8>),
    /// Nothing buffered: read from the client.
    Empty,
    /// The current line went over the cap: it and the rest of its message are being dropped.
    LineTooLong,
    /// A dropped message ended: the reader answers its refusal. (A dropped line that ends by
    /// announcing a synchronising literal ends the message too: the client waits for a `+`
    /// that never comes and reads the refusal instead.)
    DroppedMessageEnded,
}

/// Longest literal announcement looked for at the end of a dropped line: `{4294967295+}\r\n`.
const TAIL: usize = 16;

/// The feeder: bytes received and not yet fed or dropped, and the position in the stream.
#[derive(Debug)]
pub(super) struct Feeder {
    backlog: Vec<u8>,
    start: usize,
    position: Position,
}

impl Default for Feeder {
    fn default() -> Self {
        Feeder {
            backlog: Vec::new(),
            start: 0,
            position: Position::Line { fed: 0 },
        }
    }
}

impl Feeder {
    /// Bytes received from the client.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.backlog.len() {
            self.backlog.clear();
            self.start = 0;
        }
        self.backlog.extend_from_slice(bytes);
    }

    /// Takes everything received and not yet fed.
    pub(super) fn take(&mut self) -> Vec<u8> {
        let rest = self.backlog.split_off(self.start);
        self.clear();
        rest
    }

    /// Forgets everything received and not yet fed (after STARTTLS).
    pub(super) fn clear(&mut self) {
        *self = Feeder::default();
    }

    /// Whether nothing of a message has been fed yet: the fragmentizer may be replaced.
    pub(super) fn between_messages(&self) -> bool {
        self.position == Position::Line { fed: 0 }
    }

    /// The fragmentizer announced a literal of `length` bytes that it will read.
    pub(super) fn expect_literal(&mut self, length: u32) {
        self.position = Position::Literal {
            left: u64::from(length),
        };
    }

    /// The fragmentizer announced a literal that is refused: drop it and the rest of its
    /// message.
    pub(super) fn drop_literal(&mut self, length: u32) {
        self.position = Position::DropLiteral {
            left: u64::from(length),
        };
    }

    /// Takes the next bytes to feed for a line capped at `max_line`, or drops what must be
    /// dropped. A line that would pass the cap turns into a dropped one (the caller learns it
    /// from [`Feeder::dropping`]).
    pub(super) fn next(&mut self, max_line: usize) -> Fed {
        loop {
            let available = &self.backlog[self.start..];
            if available.is_empty() {
                return Fed::Empty;
            }
            match &mut self.position {
                Position::Line { fed } => {
                    let take = available
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(available.len(), |i| i + 1);
                    if *fed + take > max_line {
                        // What fits is fed first, so the refusal can name the command's tag.
                        let allowed = max_line - (*fed).min(max_line);
                        if allowed > 0 {
                            *fed += allowed;
                            let bytes = available[..allowed].to_vec();
                            self.start += allowed;
                            return Fed::Some(bytes);
                        }
                        self.position = Position::DropLine { tail: Vec::new() };
                        return Fed::LineTooLong;
                    }
                    let bytes = available[..take].to_vec();
                    self.start += take;
                    *fed = if bytes.ends_with(b"\n") {
                        0
                    } else {
                        *fed + take
                    };
                    return Fed::Some(bytes);
                }
                Position::Literal { left } => {
                    let take = (*left).min(available.len() as u64) as usize;
                    *left -= take as u64;
                    let bytes = available[..take].to_vec();
                    self.start += take;
                    if *left == 0 {
                        self.position = Position::Line { fed: 0 };
                    }
                    return Fed::Some(bytes);
                }
                Position::DropLiteral { left } => {
                    let take = (*left).min(available.len() as u64) as usize;
                    *left -= take as u64;
                    self.start += take;
                    if *left == 0 {
                        self.position = Position::DropLine { tail: Vec::new() };
                    }
                }
                Position::DropLine { tail } => {
                    let end = available.iter().position(|b| *b == b'\n');
                    let take = end.map_or(available.len(), |i| i + 1);
                    tail.extend_from_slice(&available[take.saturating_sub(TAIL)..take]);
                    if tail.len() > TAIL {
                        tail.drain(..tail.len() - TAIL);
                    }
                    self.start += take;
                    if end.is_none() {
                        continue;
                    }
                    match announced_literal(tail) {
                        Some((length, false)) => {
                            self.position = Position::DropLiteral {
                                left: u64::from(length),
                            };
                        }
                        // A synchronising literal the client waits for, or the end of the
                        // message: either way the message ends here.
                        _ => {
                            self.position = Position::Line { fed: 0 };
                            return Fed::DroppedMessageEnded;
                        }
                    }
                }
            }
        }
    }

    /// Whether the feeder is dropping the current message.
    #[cfg(test)]
    fn dropping(&self) -> bool {
        matches!(
            self.position,
            Position::DropLine { .. } | Position::DropLiteral { .. }
        )
    }

    /// Bytes received and not yet fed or dropped.
    pub(super) fn buffered(&self) -> usize {
        self.backlog.len() - self.start
    }
}

/// The literal a line announces at its end (`{n}` or `{n+}` / `{n-}` before the line feed):
/// its length and whether it is synchronising.
fn announced_literal(line: &[u8]) -> Option<(u32, bool)> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|b| *b == b'{')?;
    let spec = &inner[open + 1..];
    let (digits, sync) = match spec.last() {
        Some(b'+' | b'-') => (&spec[..spec.len() - 1], false),
        _ => (spec, true),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits)
        .ok()?
        .parse()
        .ok()
        .map(|n| (n, sync))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_fed_up_to_their_line_feed() {
        let mut f = Feeder::default();
        f.push(b"a1 NOOP\r\na2 NO");
        assert_eq!(f.next(100), Fed::Some(b"a1 NOOP\r\n".to_vec()));
        assert_eq!(f.next(100), Fed::Some(b"a2 NO".to_vec()));
        assert_eq!(f.next(100), Fed::Empty);
        f.push(b"OP\r\n");
        assert_eq!(f.next(100), Fed::Some(b"OP\r\n".to_vec()));
    }

    #[test]
    fn literals_are_fed_by_length() {
        let mut f = Feeder::default();
        f.push(b"hello\r\nrest");
        f.expect_literal(5);
        assert_eq!(f.next(100), Fed::Some(b"hello".to_vec()));
        assert_eq!(f.next(100), Fed::Some(b"\r\n".to_vec()));
    }

    #[test]
    fn an_overlong_line_is_dropped_to_its_end_without_being_kept() {
        let mut f = Feeder::default();
        f.push(&[b'x'; 64]);
        assert_eq!(f.next(10), Fed::Some(vec![b'x'; 10]), "what fits first");
        assert_eq!(f.next(10), Fed::LineTooLong);
        assert!(f.dropping());
        assert_eq!(f.next(10), Fed::Empty);
        assert_eq!(f.buffered(), 0, "nothing kept");
        f.push(&[b'y'; 100_000]);
        assert_eq!(f.next(10), Fed::Empty);
        f.push(b"\r\na2 NOOP\r\n");
        assert_eq!(f.next(10), Fed::DroppedMessageEnded);
        assert!(!f.dropping());
        assert_eq!(f.next(100), Fed::Some(b"a2 NOOP\r\n".to_vec()));
    }

    #[test]
    fn a_dropped_line_announcing_a_non_sync_literal_drops_it_too() {
        let mut f = Feeder::default();
        f.push(b"xxxxxxxxxxxx {5+}\r\nabcde more\r\na2 NOOP\r\n");
        assert!(matches!(f.next(10), Fed::Some(_)));
        assert_eq!(f.next(10), Fed::LineTooLong);
        assert_eq!(f.next(10), Fed::DroppedMessageEnded);
        assert_eq!(f.next(10), Fed::Some(b"a2 NOOP\r\n".to_vec()));
        let mut f = Feeder::default();
        f.push(b"xxxxxxxxxxxx {5}\r\n");
        assert!(matches!(f.next(10), Fed::Some(_)));
        assert_eq!(f.next(10), Fed::LineTooLong);
        assert_eq!(
            f.next(10),
            Fed::DroppedMessageEnded,
            "the client waits for +"
        );
        let mut f = Feeder::default();
        f.drop_literal(4);
        f.push(b"abcd tail\r\n");
        assert_eq!(f.next(10), Fed::DroppedMessageEnded);
    }

    #[test]
    fn announcements_are_read_from_line_ends() {
        assert_eq!(announced_literal(b"a {12}\r\n"), Some((12, true)));
        assert_eq!(announced_literal(b"a {12+}\r\n"), Some((12, false)));
        assert_eq!(announced_literal(b"a {12-}\n"), Some((12, false)));
        assert_eq!(announced_literal(b"a {}\r\n"), None);
        assert_eq!(announced_literal(b"a {x}\r\n"), None);
        assert_eq!(announced_literal(b"a b\r\n"), None);
    }
}

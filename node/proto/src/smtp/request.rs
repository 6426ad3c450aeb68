//! Turns bytes into SMTP requests: frames lines first with a hard cap (an overlong line is
//! discarded up to its end and reported once, however it arrives), then parses each complete
//! line with `smtp-proto` and hands out owned requests.

use smtp_proto::{Error, Request};

use crate::line::{Frame, LineFramer};

/// Longest command line accepted, CRLF included (RFC 5321 asks for 512; extensions need more).
pub const MAX_LINE: usize = 4096;

/// What one parse step produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete request.
    Request(Request<String>),
    /// Not enough bytes for a whole line yet.
    NeedMore,
    /// A line longer than the cap (its bytes were discarded).
    TooLong,
    /// A line that is not a known command.
    Unknown,
    /// A known command with bad syntax; the text says what.
    Syntax(String),
    /// A parameter we do not support.
    Unsupported(String),
    /// A MAIL FROM or RCPT TO address that does not parse.
    BadAddress,
}

/// Incremental request parser.
pub struct RequestReader {
    framer: LineFramer,
}

impl Default for RequestReader {
    fn default() -> Self {
        Self {
            framer: LineFramer::new(MAX_LINE),
        }
    }
}

impl RequestReader {
    /// Parses from `input`, returning how many bytes were consumed and the outcome.
    pub fn parse(&mut self, input: &[u8]) -> (usize, Parsed) {
        match self.framer.push(input) {
            (used, Frame::Line(line)) => (used, Self::parse_line(&line)),
            (used, Frame::TooLong) => (used, Parsed::TooLong),
            (used, Frame::NeedMore) => (used, Parsed::NeedMore),
        }
    }

    fn parse_line(line: &[u8]) -> Parsed {
        match Request::parse(&mut line.iter()) {
            Ok(Request::Rcpt { mut to }) if to.address.is_empty() => {
                // smtp-proto reads both `<>` and `<postmaster>` as an empty address; the bare
                // postmaster is a recipient every server must take (RFC 5321 §4.5.1).
                if bare_postmaster(line) {
                    to.address = "postmaster".into();
                }
                Parsed::Request(Request::Rcpt { to }.into_owned())
            }
            Ok(req) => Parsed::Request(req.into_owned()),
            Err(Error::NeedsMoreData { .. }) => Parsed::Syntax("incomplete command".into()),
            Err(Error::UnknownCommand) => Parsed::Unknown,
            Err(Error::InvalidSenderAddress | Error::InvalidRecipientAddress) => Parsed::BadAddress,
            Err(Error::SyntaxError { syntax }) => Parsed::Syntax(syntax.to_string()),
            Err(Error::InvalidParameter { param }) => {
                Parsed::Syntax(format!("invalid parameter {param}"))
            }
            Err(Error::UnsupportedParameter { param }) => Parsed::Unsupported(param),
            Err(Error::InvalidResponse { .. }) => Parsed::Unknown,
            Err(Error::ResponseTooLong) => Parsed::TooLong,
        }
    }
}

/// Whether the path in an RCPT line is `<postmaster>` (any case).
fn bare_postmaster(line: &[u8]) -> bool {
    let Some(start) = line.iter().position(|&b| b == b'<') else {
        return false;
    };
    let rest = &line[start + 1..];
    rest.iter()
        .position(|&b| b == b'>')
        .is_some_and(|end| rest[..end].eq_ignore_ascii_case(b"postmaster"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<Parsed> {
        let mut r = RequestReader::default();
        let mut pos = 0;
        let mut out = Vec::new();
        loop {
            let (used, p) = r.parse(&input[pos..]);
            pos += used;
            if p == Parsed::NeedMore {
                break;
            }
            out.push(p);
        }
        out
    }

    #[test]
    fn pipelined_commands_parse_one_by_one() {
        let out = all(
            b"EHLO client.test\r\nMAIL FROM:<a@b.test> SIZE=10\r\nRCPT TO:<c@d.test>\r\nDATA\r\n",
        );
        assert_eq!(out.len(), 4);
        assert!(
            matches!(&out[1], Parsed::Request(Request::Mail { from }) if from.address == "a@b.test" && from.size == 10)
        );
        assert!(matches!(out[3], Parsed::Request(Request::Data)));
    }

    #[test]
    fn the_bare_postmaster_is_kept_apart_from_the_null_path() {
        let out = all(b"RCPT TO:<PostMaster>\r\nRCPT TO:<>\r\nRCPT TO:<postmaster@d.test>\r\n");
        let addresses: Vec<&str> = out
            .iter()
            .map(|p| match p {
                Parsed::Request(Request::Rcpt { to }) => to.address.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(addresses, ["postmaster", "", "postmaster@d.test"]);
    }

    #[test]
    fn overlong_lines_are_reported_and_skipped() {
        let mut input = b"NOOP ".to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend_from_slice(b"\r\nQUIT\r\n");
        let out = all(&input);
        assert_eq!(out.first(), Some(&Parsed::TooLong));
        assert!(matches!(out.last(), Some(Parsed::Request(Request::Quit))));
        // The same line in small pieces.
        let mut r = RequestReader::default();
        let mut seen = Vec::new();
        for piece in input.chunks(7) {
            let mut pos = 0;
            while pos < piece.len() {
                let (used, p) = r.parse(&piece[pos..]);
                pos += used;
                if p != Parsed::NeedMore {
                    seen.push(p);
                }
            }
        }
        assert_eq!(seen.first(), Some(&Parsed::TooLong));
        assert!(matches!(seen.last(), Some(Parsed::Request(Request::Quit))));
    }

    #[test]
    fn garbage_is_unknown_and_split_lines_wait() {
        assert_eq!(all(b"FROB x\r\n"), vec![Parsed::Unknown]);
        assert!(all(b"MAIL FROM:<a@b").is_empty());
    }
}

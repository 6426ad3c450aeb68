//! POP3 commands: keyword (case-insensitive) and arguments, parsed from lines capped at 255
//! octets as RFC 2449 sets (SASL responses may be longer and are read as raw lines).

use crate::line::{Frame, LineFramer};

/// Longest command line, CRLF included (RFC 2449 §4).
pub const MAX_LINE: usize = 255;

/// A POP3 command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `USER name`
    User(String),
    /// `PASS secret` (the rest of the line, spaces included)
    Pass(String),
    /// `AUTH [mechanism [initial-response]]`
    Auth(Option<String>, Option<String>),
    /// `APOP name digest` (not offered)
    Apop,
    /// `CAPA`
    Capa,
    /// `STLS`
    Stls,
    /// `STAT`
    Stat,
    /// `LIST [msg]`
    List(Option<u32>),
    /// `RETR msg`
    Retr(u32),
    /// `TOP msg lines`
    Top(u32, u32),
    /// `DELE msg`
    Dele(u32),
    /// `RSET`
    Rset,
    /// `NOOP`
    Noop,
    /// `UIDL [msg]`
    Uidl(Option<u32>),
    /// `QUIT`
    Quit,
}

impl Command {
    /// The keyword, for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Auth(..) => "AUTH",
            Command::Apop => "APOP",
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Top(..) => "TOP",
            Command::Dele(_) => "DELE",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Uidl(_) => "UIDL",
            Command::Quit => "QUIT",
        }
    }
}

/// What one parse step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A command.
    Command(Command),
    /// A line over 255 octets.
    TooLong,
    /// An unknown keyword.
    Unknown(String),
    /// A known keyword with bad arguments; the text says what is expected.
    BadArguments(&'static str),
    /// No complete line yet.
    NeedMore,
}

/// Incremental command parser.
pub struct CommandReader {
    framer: LineFramer,
}

impl Default for CommandReader {
    fn default() -> Self {
        Self {
            framer: LineFramer::new(MAX_LINE),
        }
    }
}

impl CommandReader {
    /// Parses from `input`, returning the bytes consumed and the outcome.
    pub fn parse(&mut self, input: &[u8]) -> (usize, Parsed) {
        match self.framer.push(input) {
            (used, Frame::Line(line)) => (used, parse_line(&line)),
            (used, Frame::TooLong) => (used, Parsed::TooLong),
            (used, Frame::NeedMore) => (used, Parsed::NeedMore),
        }
    }
}

fn number(arg: Option<&str>) -> Option<u32> {
    let a = arg?;
    if a.is_empty() || !a.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    a.parse().ok()
}

/// Parses one line (with or without its CRLF).
pub fn parse_line(line: &[u8]) -> Parsed {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Ok(text) = std::str::from_utf8(line) else {
        return Parsed::Unknown("(not UTF-8)".into());
    };
    let (keyword, rest) = match text.split_once(' ') {
        Some((k, r)) => (k, Some(r)),
        None => (text, None),
    };
    let mut args = rest.unwrap_or("").split(' ').filter(|a| !a.is_empty());
    let (a1, a2, a3) = (args.next(), args.next(), args.next());
    let bad = |what| Parsed::BadArguments(what);
    let cmd = match keyword.to_ascii_uppercase().as_str() {
        "USER" => match (a1, a2) {
            (Some(name), None) => Command::User(name.to_string()),
            _ => return bad("USER needs one argument: the login name"),
        },
        "PASS" => match rest {
            Some(r) if !r.is_empty() => Command::Pass(r.to_string()),
            _ => return bad("PASS needs the password"),
        },
        "AUTH" => match (a1, a2, a3) {
            (m, i, None) => Command::Auth(m.map(str::to_ascii_uppercase), i.map(str::to_string)),
            _ => return bad("AUTH takes a mechanism and an optional initial response"),
        },
        "APOP" => Command::Apop,
        "CAPA" if a1.is_none() => Command::Capa,
        "STLS" if a1.is_none() => Command::Stls,
        "STAT" if a1.is_none() => Command::Stat,
        "RSET" if a1.is_none() => Command::Rset,
        "NOOP" if a1.is_none() => Command::Noop,
        "QUIT" if a1.is_none() => Command::Quit,
        "CAPA" | "STLS" | "STAT" | "RSET" | "NOOP" | "QUIT" => {
            return bad("this command takes no arguments");
        }
        "LIST" | "UIDL" => {
            let n = match a1 {
                None => None,
                Some(_) if a2.is_some() => return bad("at most one message number"),
                Some(_) => Some(match number(a1) {
                    Some(n) => n,
                    None => return bad("the message number must be a positive integer"),
                }),
            };
            if keyword.eq_ignore_ascii_case("LIST") {
                Command::List(n)
            } else {
                Command::Uidl(n)
            }
        }
        "RETR" | "DELE" => match (number(a1), a2) {
            (Some(n), None) => {
                if keyword.eq_ignore_ascii_case("RETR") {
                    Command::Retr(n)
                } else {
                    Command::Dele(n)
                }
            }
            _ => return bad("one message number is needed"),
        },
        "TOP" => match (number(a1), number(a2), a3) {
            (Some(n), Some(lines), None) => Command::Top(n, lines),
            _ => return bad("TOP needs a message number and a line count"),
        },
        _ => return Parsed::Unknown(keyword.chars().take(16).collect()),
    };
    Parsed::Command(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_arguments() {
        assert_eq!(
            parse_line(b"user demo\r\n"),
            Parsed::Command(Command::User("demo".into()))
        );
        assert_eq!(
            parse_line(b"PASS two words\r\n"),
            Parsed::Command(Command::Pass("two words".into()))
        );
        assert_eq!(
            parse_line(b"LIST\r\n"),
            Parsed::Command(Command::List(None))
        );
        assert_eq!(
            parse_line(b"list 3\r\n"),
            Parsed::Command(Command::List(Some(3)))
        );
        assert_eq!(
            parse_line(b"TOP 1 10\r\n"),
            Parsed::Command(Command::Top(1, 10))
        );
        assert_eq!(
            parse_line(b"AUTH plain AGEAYg==\r\n"),
            Parsed::Command(Command::Auth(Some("PLAIN".into()), Some("AGEAYg==".into())))
        );
        assert_eq!(
            parse_line(b"AUTH\r\n"),
            Parsed::Command(Command::Auth(None, None))
        );
        assert!(matches!(parse_line(b"RETR x\r\n"), Parsed::BadArguments(_)));
        assert!(matches!(
            parse_line(b"RETR -1\r\n"),
            Parsed::BadArguments(_)
        ));
        assert!(matches!(parse_line(b"TOP 1\r\n"), Parsed::BadArguments(_)));
        assert!(matches!(
            parse_line(b"STAT now\r\n"),
            Parsed::BadArguments(_)
        ));
        assert_eq!(parse_line(b"XYZZY\r\n"), Parsed::Unknown("XYZZY".into()));
    }

    #[test]
    fn long_lines_are_refused() {
        let mut r = CommandReader::default();
        let mut line = b"USER ".to_vec();
        line.extend(std::iter::repeat_n(b'a', 300));
        line.extend_from_slice(b"\r\nNOOP\r\n");
        let (used, first) = r.parse(&line);
        assert_eq!(first, Parsed::TooLong);
        assert_eq!(r.parse(&line[used..]).1, Parsed::Command(Command::Noop));
    }
}

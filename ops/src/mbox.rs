//! mbox files (mboxo and mboxrd, as mutt, Thunderbird and `formail` write them), without I/O:
//! messages start at `From ` lines; `>From ` quoting is undone one level; the `From ` line's
//! date becomes INTERNALDATE and the `Status:` / `X-Status:` headers become flags.

use chrono::NaiveDateTime;

/// One message of an mbox.
#[derive(Debug, PartialEq, Eq)]
pub struct Message {
    /// The message with CRLF line ends, without its `From ` line.
    pub raw: Vec<u8>,
    /// IMAP system flags.
    pub flags: Vec<String>,
    /// Unix seconds from the `From ` line, if it has a readable date.
    pub internal_date: Option<i64>,
}

/// The date at the end of a `From sender date` line (asctime: `Thu Dec  4 15:48:49 2026`).
fn from_line_date(line: &str) -> Option<i64> {
    // The weekday is left out: a wrong one should not lose the date.
    let words: Vec<&str> = line.split_whitespace().collect();
    let date = words.get(words.len().checked_sub(4)?..)?.join(" ");
    NaiveDateTime::parse_from_str(&date, "%b %e %H:%M:%S %Y")
        .ok()
        .map(|d| d.and_utc().timestamp())
}

/// Flags from `Status:` (`R` read) and `X-Status:` (`A` answered, `F` flagged, `D` deleted,
/// `T` draft) in the header.
fn flags(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let mut out = Vec::new();
    for line in text.split("\r\n") {
        if line.is_empty() {
            break;
        }
        let (name, value) = match line.split_once(':') {
            Some((n, v)) => (n.trim().to_ascii_lowercase(), v.trim()),
            None => continue,
        };
        let table: &[(char, &str)] = match name.as_str() {
            "status" => &[('R', "\\Seen")],
            "x-status" => &[
                ('A', "\\Answered"),
                ('F', "\\Flagged"),
                ('D', "\\Deleted"),
                ('T', "\\Draft"),
            ],
            _ => continue,
        };
        for (c, flag) in table {
            if value.contains(*c) && !out.iter().any(|f| f == flag) {
                out.push(flag.to_string());
            }
        }
    }
    out
}

/// Splits an mbox into its messages.
pub fn split(bytes: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut current: Option<(Option<i64>, Vec<u8>)> = None;
    let finish = |current: Option<(Option<i64>, Vec<u8>)>, out: &mut Vec<Message>| {
        if let Some((date, mut raw)) = current {
            // The blank line before the next `From ` belongs to the mbox, not the message.
            if raw.ends_with(b"\r\n\r\n") {
                raw.truncate(raw.len() - 2);
            }
            out.push(Message {
                flags: flags(&raw),
                raw,
                internal_date: date,
            });
        }
    };
    for line in bytes.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b"From ") {
            finish(current.take(), &mut out);
            current = Some((from_line_date(&String::from_utf8_lossy(line)), Vec::new()));
            continue;
        }
        let Some((_, raw)) = current.as_mut() else {
            continue;
        };
        // mboxrd: `>From ` and `>>From ` lose one `>`.
        let unquoted = match line.iter().position(|&b| b != b'>') {
            Some(n) if n > 0 && line[n..].starts_with(b"From ") => &line[1..],
            _ => line,
        };
        raw.extend_from_slice(unquoted);
        raw.extend_from_slice(b"\r\n");
    }
    finish(current.take(), &mut out);
    // A file ending in a newline gives one empty line too many.
    for m in &mut out {
        while m.raw.ends_with(b"\r\n\r\n") {
            m.raw.truncate(m.raw.len() - 2);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_dates_quoting_and_flags() {
        let mbox = b"From alice@example.org Thu Dec  4 15:48:49 2026\n\
Subject: one\nStatus: RO\nX-Status: AF\n\nhello\n>From the start\n>>From deeper\n\n\
From bob@example.org Fri Dec  5 09:00:00 2026\nSubject: two\n\nbye\n";
        let m = split(mbox);
        assert_eq!(m.len(), 2);
        assert_eq!(
            String::from_utf8_lossy(&m[0].raw),
            "Subject: one\r\nStatus: RO\r\nX-Status: AF\r\n\r\nhello\r\nFrom the start\r\n>From deeper\r\n"
        );
        assert_eq!(m[0].flags, ["\\Seen", "\\Answered", "\\Flagged"]);
        assert_eq!(m[0].internal_date, Some(1_796_399_329));
        assert_eq!(
            String::from_utf8_lossy(&m[1].raw),
            "Subject: two\r\n\r\nbye\r\n"
        );
        assert!(m[1].flags.is_empty());
        assert!(split(b"not an mbox\n").is_empty());
    }
}

//! Content rules of the spam score (`[[smtp.checks.score.rules]]`), without I/O: each matches
//! one thing — a header's unfolded value against a regular expression, the text of the body
//! parts (HTML as text) against one, an attachment's file-name extension, a part's MIME type,
//! or the message's size — and gives its points when it does.

use mail_parser::{Message, MimeHeaders};
use regex::Regex;

/// What a rule looks at.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// A header field (every occurrence), by name.
    Header(String, Regex),
    /// The text of the body parts.
    Body(Regex),
    /// An attachment whose file name ends in one of these extensions (lower case, no dot).
    Attachment(Vec<String>),
    /// A part of this MIME type (`type/subtype`, lower case).
    MimeType(String),
    /// The message is larger than this many bytes.
    SizeOver(usize),
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name in `X-Spam-Status` and metrics.
    pub name: String,
    /// What it matches.
    pub matcher: Matcher,
    /// Its points (negative: a sign of wanted mail).
    pub points: f64,
}

/// A rule as written: a name, points, and exactly one of the matchers.
#[derive(Debug, Clone, Default)]
pub struct Written<'a> {
    /// Name.
    pub name: &'a str,
    /// A header name (with `pattern`).
    pub header: &'a str,
    /// The body (with `pattern`).
    pub body: bool,
    /// Attachment extensions.
    pub attachment: &'a [String],
    /// A MIME type.
    pub mime_type: &'a str,
    /// A size in bytes.
    pub size_over: u64,
    /// The regular expression of `header` and `body`.
    pub pattern: &'a str,
    /// Points.
    pub points: f64,
}

impl<'a> Written<'a> {
    /// A rule kept in the store, as written.
    pub fn stored(r: &'a tern_store::model::spam_rules::StoredRule) -> Self {
        Written {
            name: &r.name,
            header: &r.header,
            body: r.body,
            attachment: &r.attachment,
            mime_type: &r.mime_type,
            size_over: r.size_over,
            pattern: &r.pattern,
            points: r.points,
        }
    }
}

impl Rule {
    /// The rule `w` describes; the error says what is wrong.
    pub fn parse(w: &Written<'_>) -> Result<Rule, String> {
        let name = w.name.trim();
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ',' || c == '(') {
            return Err(format!(
                "name {name:?} must be one word (like SUBJECT_PILLS)"
            ));
        }
        let regex = || {
            if w.pattern.is_empty() {
                return Err("needs a pattern".to_string());
            }
            Regex::new(w.pattern).map_err(|e| format!("pattern {:?}: {e}", w.pattern))
        };
        let given = [
            !w.header.trim().is_empty(),
            w.body,
            !w.attachment.is_empty(),
            !w.mime_type.trim().is_empty(),
            w.size_over > 0,
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(
                "needs exactly one of header, body, attachment, mime_type and size_over".into(),
            );
        }
        let matcher = if given[0] {
            Matcher::Header(w.header.trim().to_ascii_lowercase(), regex()?)
        } else if w.body {
            Matcher::Body(regex()?)
        } else if given[2] {
            Matcher::Attachment(
                w.attachment
                    .iter()
                    .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
                    .collect(),
            )
        } else if given[3] {
            Matcher::MimeType(w.mime_type.trim().to_ascii_lowercase())
        } else {
            Matcher::SizeOver(w.size_over as usize)
        };
        if !w.pattern.is_empty() && !matches!(matcher, Matcher::Header(..) | Matcher::Body(_)) {
            return Err("has a pattern, which only header and body rules use".into());
        }
        if !w.points.is_finite() || w.points == 0.0 {
            return Err("needs points (a number other than 0)".into());
        }
        Ok(Rule {
            name: name.to_string(),
            matcher,
            points: w.points,
        })
    }

    /// Whether it matches `message` (`size` bytes as received).
    pub fn matches(&self, message: &Message<'_>, size: usize) -> bool {
        match &self.matcher {
            Matcher::Header(name, re) => message
                .headers_raw()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .any(|(_, value)| re.is_match(&unfold(value))),
            Matcher::Body(re) => (0..message.text_body_count().max(message.html_body_count()))
                .filter_map(|i| message.body_text(i))
                .any(|text| re.is_match(&text)),
            Matcher::Attachment(extensions) => message.attachments().any(|part| {
                part.attachment_name().is_some_and(|name| {
                    let name = name.to_ascii_lowercase();
                    extensions
                        .iter()
                        .any(|e| name.rsplit_once('.').is_some_and(|(_, ext)| ext == e))
                })
            }),
            Matcher::MimeType(wanted) => message.parts.iter().any(|part| {
                part.content_type().is_some_and(|ct| {
                    let full = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""));
                    full.eq_ignore_ascii_case(wanted)
                })
            }),
            Matcher::SizeOver(limit) => size > *limit,
        }
    }
}

/// A header value on one line, without its leading space.
fn unfold(value: &str) -> String {
    value
        .replace("\r\n", "")
        .replace('\n', "")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    fn rule(w: Written<'_>) -> Rule {
        Rule::parse(&w).expect("rule")
    }

    const MESSAGE: &str = "From: a@b.test\r\nSubject: Cheap\r\n pills today\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n\
        --x\r\nContent-Type: text/html\r\n\r\n<p>Buy <b>now</b></p>\r\n\
        --x\r\nContent-Type: application/x-msdownload; name=\"Invoice.PDF.exe\"\r\n\
        Content-Disposition: attachment; filename=\"Invoice.PDF.exe\"\r\n\r\nMZ\r\n--x--\r\n";

    #[test]
    fn each_kind_of_rule_matches_what_it_names() {
        let m = MessageParser::default()
            .parse(MESSAGE.as_bytes())
            .expect("parse");
        let size = MESSAGE.len();
        let pills = rule(Written {
            name: "PILLS",
            header: "subject",
            pattern: "(?i)cheap pills",
            points: 4.0,
            ..Default::default()
        });
        assert!(pills.matches(&m, size), "folded header unfolded");
        let body = rule(Written {
            name: "BUY",
            body: true,
            pattern: "Buy now",
            points: 1.0,
            ..Default::default()
        });
        assert!(body.matches(&m, size), "HTML read as text");
        let exe = vec!["EXE".to_string(), ".scr".to_string()];
        let attachment = rule(Written {
            name: "EXE",
            attachment: &exe,
            points: 5.0,
            ..Default::default()
        });
        assert!(attachment.matches(&m, size));
        let mime = rule(Written {
            name: "MSDL",
            mime_type: "Application/X-MSDownload",
            points: 2.0,
            ..Default::default()
        });
        assert!(mime.matches(&m, size));
        let big = rule(Written {
            name: "BIG",
            size_over: size as u64,
            points: 1.0,
            ..Default::default()
        });
        assert!(!big.matches(&m, size));
        let other = rule(Written {
            name: "OTHER",
            header: "Subject",
            pattern: "^Hello",
            points: 1.0,
            ..Default::default()
        });
        assert!(!other.matches(&m, size));
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        for (w, want) in [
            (
                Written {
                    name: "TWO WORDS",
                    body: true,
                    pattern: "x",
                    points: 1.0,
                    ..Default::default()
                },
                "must be one word",
            ),
            (
                Written {
                    name: "NONE",
                    points: 1.0,
                    ..Default::default()
                },
                "exactly one of",
            ),
            (
                Written {
                    name: "BOTH",
                    body: true,
                    size_over: 5,
                    pattern: "x",
                    points: 1.0,
                    ..Default::default()
                },
                "exactly one of",
            ),
            (
                Written {
                    name: "NOPAT",
                    body: true,
                    points: 1.0,
                    ..Default::default()
                },
                "needs a pattern",
            ),
            (
                Written {
                    name: "BADRE",
                    body: true,
                    pattern: "(",
                    points: 1.0,
                    ..Default::default()
                },
                "pattern \"(\"",
            ),
            (
                Written {
                    name: "PAT",
                    size_over: 9,
                    pattern: "x",
                    points: 1.0,
                    ..Default::default()
                },
                "only header and body",
            ),
            (
                Written {
                    name: "ZERO",
                    size_over: 9,
                    ..Default::default()
                },
                "needs points",
            ),
        ] {
            let err = Rule::parse(&w).expect_err(want);
            assert!(err.contains(want), "{err}");
        }
    }
}

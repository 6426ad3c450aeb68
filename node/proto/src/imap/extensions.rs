//! A small parser layer for syntax `imap-codec` does not read yet, applied to a complete
//! command before it is decoded: `SEARCH RETURN (...)` (ESEARCH, RFC 4731), LIST's selection
//! options, multiple patterns and `RETURN (...)` (LIST-EXTENDED, RFC 5258, with LIST-STATUS,
//! RFC 5819), and the extra messages of a MULTIAPPEND (RFC 3502). Each is cut out of the
//! command and kept here; what is left is plain IMAP4rev1 for `imap-codec`. Commands
//! `imap-codec` has no variant for (CANCELUPDATE, NOTIFY) are read whole into [`OwnCommand`] and
//! replaced by a NOOP for it.

/// ESEARCH result options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchReturn {
    /// MIN.
    pub min: bool,
    /// MAX.
    pub max: bool,
    /// ALL (also for an empty list).
    pub all: bool,
    /// COUNT.
    pub count: bool,
    /// `PARTIAL low:high`: the matches at those positions (CONTEXT=SEARCH, RFC 5267 §4.4),
    /// low ≤ high.
    pub partial: Option<(u32, u32)>,
    /// UPDATE: tell the client as the result changes (RFC 5267 §4.3).
    pub update: bool,
    /// CONTEXT: the client will come back to this result (a hint, RFC 5267 §4.2).
    pub context: bool,
}

/// A command `imap-codec` has no variant for, read here whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnCommand {
    /// `CANCELUPDATE "tag" ...` (RFC 5267 §4.5): the tags of the searches to stop updating.
    CancelUpdate(Vec<String>),
    /// `NOTIFY SET ...` or `NOTIFY NONE` (RFC 5465).
    Notify(super::notify::Notify),
}

/// LIST-EXTENDED options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Selection `SUBSCRIBED`.
    pub subscribed_only: bool,
    /// Selection `SPECIAL-USE`.
    pub special_use_only: bool,
    /// Selection `RECURSIVEMATCH`.
    pub recursive_match: bool,
    /// Return `SUBSCRIBED`.
    pub return_subscribed: bool,
    /// Return `CHILDREN`.
    pub return_children: bool,
    /// Return `SPECIAL-USE`.
    pub return_special_use: bool,
    /// Return `STATUS (items)`, upper-case item names.
    pub status: Vec<String>,
    /// Patterns beyond the first (`LIST "" (a b c)`).
    pub more_patterns: Vec<String>,
    /// Whether any extended syntax was used.
    pub extended: bool,
}

/// What was cut out of a command.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extras {
    /// `SEARCH RETURN (...)`.
    pub search_return: Option<SearchReturn>,
    /// LIST-EXTENDED syntax.
    pub list: Option<ListOptions>,
    /// CREATE's `USE (...)` special-use attributes (CREATE-SPECIAL-USE, RFC 6154).
    pub create_use: Option<Vec<String>>,
    /// The second and later messages of a MULTIAPPEND, each as an APPEND of its own.
    pub more_appends: Vec<imap_codec::imap_types::command::Command<'static>>,
    /// The parts of an APPEND with CATENATE (RFC 4469); its message literal is then empty.
    pub catenate: Option<Vec<super::catenate::Part>>,
    /// The message of the APPEND came as the UTF8 data item (RFC 6855 §4).
    pub utf8_append: bool,
    /// A command of this layer's own; what `imap-codec` read is a NOOP in its place.
    pub own: Option<OwnCommand>,
}

/// Why extended syntax was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtError(pub String);

fn upper_words(s: &[u8]) -> Vec<String> {
    tokens(s)
        .into_iter()
        .map(|t| t.to_ascii_uppercase())
        .collect()
}

/// Splits on spaces outside quotes and parentheses.
pub(crate) fn tokens(s: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let (mut depth, mut quoted, mut escaped) = (0i32, false, false);
    for &b in s {
        if quoted {
            cur.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = false;
            }
            continue;
        }
        match b {
            b'"' => {
                quoted = true;
                cur.push(b);
            }
            b'(' => {
                depth += 1;
                cur.push(b);
            }
            b')' => {
                depth -= 1;
                cur.push(b);
            }
            b' ' if depth == 0 => {
                if !cur.is_empty() {
                    out.push(String::from_utf8_lossy(&cur).into_owned());
                    cur.clear();
                }
            }
            _ => cur.push(b),
        }
    }
    if !cur.is_empty() {
        out.push(String::from_utf8_lossy(&cur).into_owned());
    }
    out
}

/// `low:high` of PARTIAL, both non-zero, in either order (RFC 5267 §4.4).
fn partial_range(word: Option<&String>) -> Result<(u32, u32), ExtError> {
    let bad = || ExtError("PARTIAL needs a range of positions, as 1:100".into());
    let (low, high) = word.and_then(|w| w.split_once(':')).ok_or_else(bad)?;
    let n = |t: &str| t.parse::<u32>().ok().filter(|n| *n > 0);
    let (low, high) = n(low).zip(n(high)).ok_or_else(bad)?;
    Ok((low.min(high), low.max(high)))
}

fn inner(group: &str) -> Option<&str> {
    group.strip_prefix('(')?.strip_suffix(')')
}

/// Cuts the extended syntax out of the first line of `message` (the part before any literal),
/// returning the rewritten message and what was cut.
pub fn extract(message: &[u8]) -> Result<(Vec<u8>, Extras), ExtError> {
    let line_end = message
        .iter()
        .position(|b| *b == b'\r' || *b == b'\n' || *b == b'{')
        .unwrap_or(message.len());
    let (line, rest) = message.split_at(line_end);
    let words = tokens(line);
    let mut extras = Extras::default();
    if words.len() < 2 {
        return Ok((message.to_vec(), extras));
    }
    let verb_at = usize::from(words[1].eq_ignore_ascii_case("UID"));
    let verb = words.get(1 + verb_at).map(|w| w.to_ascii_uppercase());
    let rebuilt: Option<Vec<String>> = match verb.as_deref() {
        Some("SEARCH" | "SORT")
            if words
                .get(2 + verb_at)
                .is_some_and(|w| w.eq_ignore_ascii_case("RETURN")) =>
        {
            let opts = words
                .get(3 + verb_at)
                .and_then(|g| inner(g))
                .ok_or_else(|| ExtError("RETURN needs a parenthesised list".into()))?;
            let mut r = SearchReturn::default();
            let options = upper_words(opts.as_bytes());
            let mut options = options.iter();
            while let Some(o) = options.next() {
                match o.as_str() {
                    "MIN" => r.min = true,
                    "MAX" => r.max = true,
                    "ALL" => r.all = true,
                    "COUNT" => r.count = true,
                    "UPDATE" => r.update = true,
                    "CONTEXT" => r.context = true,
                    "PARTIAL" => r.partial = Some(partial_range(options.next())?),
                    other => return Err(ExtError(format!("unsupported RETURN option {other}"))),
                }
            }
            if !(r.min || r.max || r.count || r.partial.is_some()) {
                r.all = true;
            }
            extras.search_return = Some(r);
            let mut w = words.clone();
            w.drain(2 + verb_at..4 + verb_at);
            Some(w)
        }
        Some("CANCELUPDATE") if verb_at == 0 => {
            let tags = words[2..]
                .iter()
                .map(|w| {
                    w.starts_with('"')
                        .then(|| unquote(w))
                        .ok_or_else(|| ExtError("CANCELUPDATE takes quoted tags".into()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if tags.is_empty() {
                return Err(ExtError("CANCELUPDATE needs the tag of a search".into()));
            }
            extras.own = Some(OwnCommand::CancelUpdate(tags));
            Some(vec![words[0].clone(), "NOOP".into()])
        }
        Some("NOTIFY") if verb_at == 0 => {
            extras.own = Some(OwnCommand::Notify(super::notify::parse(&words[2..])?));
            Some(vec![words[0].clone(), "NOOP".into()])
        }
        // `CREATE name (USE (\Sent))`: the parameters are one parenthesised token.
        Some("CREATE") if verb_at == 0 && words.len() == 4 && words[3].starts_with('(') => {
            let params = inner(&words[3]).unwrap_or_default();
            let groups = tokens(params.as_bytes());
            match groups.as_slice() {
                [name, list] if name.eq_ignore_ascii_case("USE") => {
                    let attrs = inner(list)
                        .ok_or_else(|| ExtError("USE needs a parenthesised list".into()))?;
                    extras.create_use = Some(tokens(attrs.as_bytes()));
                }
                _ => {
                    return Err(ExtError(format!(
                        "unsupported CREATE parameter {}",
                        words[3]
                    )));
                }
            }
            Some(words[..3].to_vec())
        }
        Some("LIST") if verb_at == 0 => {
            let mut args: Vec<String> = words[2..].to_vec();
            let mut o = ListOptions::default();
            if args.first().is_some_and(|a| a.starts_with('(')) {
                let sel = args.remove(0);
                for s in upper_words(inner(&sel).unwrap_or_default().as_bytes()) {
                    match s.as_str() {
                        "SUBSCRIBED" => o.subscribed_only = true,
                        "SPECIAL-USE" => o.special_use_only = true,
                        "RECURSIVEMATCH" => o.recursive_match = true,
                        "REMOTE" => {}
                        other => {
                            return Err(ExtError(format!(
                                "unsupported LIST selection option {other}"
                            )));
                        }
                    }
                }
                // RFC 5258 §3.1: RECURSIVEMATCH only modifies another option.
                if o.recursive_match && !o.subscribed_only {
                    return Err(ExtError(
                        "RECURSIVEMATCH needs the SUBSCRIBED selection option".into(),
                    ));
                }
                o.extended = true;
            }
            if args.len() >= 4 && args[args.len() - 2].eq_ignore_ascii_case("RETURN") {
                let ret = args.pop().unwrap_or_default();
                args.pop();
                let ret_words = tokens(inner(&ret).unwrap_or_default().as_bytes());
                let mut i = 0;
                while i < ret_words.len() {
                    match ret_words[i].to_ascii_uppercase().as_str() {
                        "SUBSCRIBED" => o.return_subscribed = true,
                        "CHILDREN" => o.return_children = true,
                        "SPECIAL-USE" => o.return_special_use = true,
                        "STATUS" => {
                            i += 1;
                            let items =
                                ret_words.get(i).and_then(|g| inner(g)).ok_or_else(|| {
                                    ExtError("RETURN STATUS needs a parenthesised list".into())
                                })?;
                            o.status = upper_words(items.as_bytes());
                        }
                        other => {
                            return Err(ExtError(format!(
                                "unsupported LIST return option {other}"
                            )));
                        }
                    }
                    i += 1;
                }
                o.extended = true;
            }
            if args.len() == 2 && args[1].starts_with('(') {
                let patterns = tokens(inner(&args[1]).unwrap_or_default().as_bytes());
                let Some((first, more)) = patterns.split_first() else {
                    return Err(ExtError("an empty pattern list".into()));
                };
                o.more_patterns = more.to_vec();
                args[1] = first.clone();
                o.extended = true;
            }
            if o.extended {
                extras.list = Some(o);
                let mut w = words[..2].to_vec();
                w.extend(args);
                Some(w)
            } else {
                None
            }
        }
        _ => None,
    };
    let Some(words) = rebuilt else {
        return Ok((message.to_vec(), extras));
    };
    let mut out = words.join(" ").into_bytes();
    if line.ends_with(b" ") && !rest.is_empty() {
        out.push(b' ');
    }
    out.extend_from_slice(rest);
    Ok((out, extras))
}

/// Removes the quotes of a quoted pattern (`"a b"` → `a b`).
pub fn unquote(s: &str) -> String {
    match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => s.to_string(),
    }
}

/// Why a command that did not parse asks for something this server does not offer, when it
/// does (8-bit characters outside quoted strings and literals): the client gets that
/// reason instead of a generic syntax error.
pub fn unsupported(message: &[u8]) -> Option<String> {
    let line_end = message
        .iter()
        .position(|b| *b == b'\r' || *b == b'\n' || *b == b'{')
        .unwrap_or(message.len());
    let line = &message[..line_end];
    (!line.is_ascii()).then(|| {
        "8-bit characters go only in quoted strings and literals, and in mailbox names only \
         after ENABLE UTF8=ACCEPT; otherwise send names in modified UTF-7 (RFC 3501 5.1.3)"
            .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(s: &str) -> (String, Extras) {
        let (out, e) = extract(s.as_bytes()).expect("extracts");
        (String::from_utf8(out).expect("utf8"), e)
    }

    #[test]
    fn search_return_is_cut_out() {
        let (line, e) = ext("a UID SEARCH RETURN (MIN COUNT) FROM \"x y\"\r\n");
        assert_eq!(line, "a UID SEARCH FROM \"x y\"\r\n");
        assert_eq!(
            e.search_return,
            Some(SearchReturn {
                min: true,
                count: true,
                ..Default::default()
            })
        );
        let (line, e) = ext("a SEARCH RETURN () ALL\r\n");
        assert_eq!(line, "a SEARCH ALL\r\n");
        assert!(e.search_return.expect("return").all);
        assert!(extract(b"a SEARCH RETURN (SAVE) ALL\r\n").is_err());
        let (line, e) = ext("a SEARCH ALL\r\n");
        assert_eq!((line.as_str(), e), ("a SEARCH ALL\r\n", Extras::default()));
    }

    #[test]
    fn context_return_options_are_read() {
        // RFC 5267 §4.4's example, and a range given high first.
        let (line, e) = ext("A01 UID SORT RETURN (PARTIAL 23500:24000) (DATE) UTF-8 UNDELETED\r\n");
        assert_eq!(line, "A01 UID SORT (DATE) UTF-8 UNDELETED\r\n");
        let r = e.search_return.expect("return");
        assert_eq!((r.partial, r.all), (Some((23500, 24000)), false));
        let (_, e) = ext("a SEARCH RETURN (PARTIAL 10:1 UPDATE CONTEXT) UNSEEN\r\n");
        let r = e.search_return.expect("return");
        assert_eq!(
            (r.partial, r.update, r.context),
            (Some((1, 10)), true, true)
        );
        // UPDATE alone still answers the result the updates apply to.
        let (_, e) = ext("a SEARCH RETURN (UPDATE) UNSEEN\r\n");
        assert!(e.search_return.expect("return").all);
        for bad in ["PARTIAL", "PARTIAL 0:5", "PARTIAL 5", "PARTIAL x:y"] {
            let line = format!("a SEARCH RETURN ({bad}) ALL\r\n");
            assert!(extract(line.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn cancelupdate_is_read_whole() {
        let (line, e) = ext("C01 CANCELUPDATE \"B01\" \"B02\"\r\n");
        assert_eq!(line, "C01 NOOP\r\n");
        assert_eq!(
            e.own,
            Some(OwnCommand::CancelUpdate(vec!["B01".into(), "B02".into()]))
        );
        assert!(extract(b"C01 CANCELUPDATE\r\n").is_err());
        assert!(extract(b"C01 CANCELUPDATE B01\r\n").is_err());
    }

    #[test]
    fn list_extended_is_cut_out() {
        let (line, e) = ext(
            "a LIST (SUBSCRIBED) \"\" (\"INBOX\" \"Sent\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))\r\n",
        );
        assert_eq!(line, "a LIST \"\" \"INBOX\"\r\n");
        let o = e.list.expect("list");
        assert!(o.subscribed_only && o.return_children);
        assert_eq!(o.status, ["MESSAGES", "UNSEEN"]);
        assert_eq!(o.more_patterns, ["\"Sent\""]);
        let (line, e) = ext("a LIST \"\" *\r\n");
        assert_eq!((line.as_str(), e.list), ("a LIST \"\" *\r\n", None));
        let (line, _) = ext("a LIST \"\" {3}\r\n");
        assert_eq!(line, "a LIST \"\" {3}\r\n");
        assert_eq!(unquote("\"a \\\"b\\\"\""), "a \"b\"");
        let (_, e) = ext("a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\n");
        assert!(e.list.expect("list").recursive_match);
        let e = extract(b"a LIST (RECURSIVEMATCH) \"\" %\r\n").expect_err("alone");
        assert_eq!(e.0, "RECURSIVEMATCH needs the SUBSCRIBED selection option");
    }

    #[test]
    fn unsupported_requests_are_named() {
        let (line, e) = ext("a NOTIFY NONE\r\n");
        assert_eq!(line, "a NOOP\r\n");
        assert!(matches!(e.own, Some(OwnCommand::Notify(_))));
        assert!(extract(b"a NOTIFY SET (SELECTED)\r\n").is_err());
        let (line, e) = ext("a CREATE Outbox (USE (\\Sent))\r\n");
        assert_eq!(line, "a CREATE Outbox\r\n");
        assert_eq!(e.create_use, Some(vec!["\\Sent".to_string()]));
        assert!(extract(b"a CREATE Outbox (COLOUR red)\r\n").is_err());
        assert!(
            unsupported("a CREATE Entwürfe".as_bytes()).is_some_and(|w| w.contains("UTF8=ACCEPT"))
        );
        assert_eq!(unsupported(b"a FROB x"), None);
        assert_eq!(unsupported(b"a CREATE Sent"), None);
    }
}

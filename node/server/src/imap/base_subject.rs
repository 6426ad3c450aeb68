//! The base subject SORT (SUBJECT) and threading compare (RFC 5256 §2.1): whitespace
//! collapsed, `(fwd)` trailers, `Re:` / `Fw:` / `Fwd:` leaders (with `[blob]`s before them and
//! a `[2]`-style blob before the colon), a leading `[blob]` when something follows it, and
//! `[fwd: …]` wrappers removed, repeatedly until nothing changes; compared case-insensitively
//! (Unicode lower case, close to RFC 5051's i;unicode-casemap, which title-cases and
//! decomposes).

/// The base subject of `subject` (already decoded from encoded words), in lower case.
pub fn base_subject(subject: &str) -> String {
    let mut s = subject
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    loop {
        // (2) trailers.
        while let Some(rest) = s.strip_suffix("(fwd)") {
            s = rest.trim_end().to_string();
        }
        // (3)-(5) leaders, and a blob with text after it, until neither applies.
        loop {
            let before = s.clone();
            while let Some(rest) = strip_leader(&s) {
                s = rest;
            }
            if let Some(rest) = strip_blob(&s)
                && !rest.is_empty()
            {
                s = rest;
            }
            if s == before {
                break;
            }
        }
        // (6) a `[fwd: …]` wrapper: unwrap and start again.
        match s.strip_prefix("[fwd:").and_then(|r| r.strip_suffix(']')) {
            Some(inner) => s = inner.trim().to_string(),
            None => return s,
        }
    }
}

/// `s` without a leading `[blob]` (no brackets inside) and the spaces after it.
fn strip_blob(s: &str) -> Option<String> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find([']', '['])?;
    (rest.as_bytes()[end] == b']').then(|| rest[end + 1..].trim_start().to_string())
}

/// `s` without a leader: blobs, then `re`, `fw` or `fwd`, spaces, an optional blob and `:`.
fn strip_leader(s: &str) -> Option<String> {
    let mut t = s.to_string();
    while let Some(rest) = strip_blob(&t) {
        t = rest;
    }
    let after = ["fwd", "fw", "re"]
        .iter()
        .find_map(|w| t.strip_prefix(w))?
        .trim_start();
    let after = match strip_blob(after) {
        Some(rest) if rest.starts_with(':') => rest,
        _ => after.to_string(),
    };
    after.strip_prefix(':').map(|r| r.trim_start().to_string())
}

#[cfg(test)]
mod tests {
    use super::base_subject;

    #[test]
    fn rfc_5256_base_subjects() {
        for (subject, base) in [
            ("Re: Fwd: [list] Hello", "hello"),
            ("RE:re: hello (fwd)", "hello"),
            ("[only]", "[only]"),
            ("  plain ", "plain"),
            ("Re[2]: status", "status"),
            ("Fw : [a][b] Re: x (fwd) (fwd)", "x"),
            ("[fwd: Re: meeting]", "meeting"),
            ("[Fwd: [fwd: deep] ]", "deep"),
            ("[a] [b]", "[b]"),
            ("[list] Re: Re:\tthe\t  plan", "the plan"),
            ("Reply all", "reply all"),
            ("re: ", ""),
            ("Ré: Été", "ré: été"),
        ] {
            assert_eq!(base_subject(subject), base, "{subject:?}");
        }
    }
}

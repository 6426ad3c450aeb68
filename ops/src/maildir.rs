//! Maildir++ as Dovecot and Courier lay it out, without I/O: the INBOX in the top directory,
//! other mailboxes in `.Name` folders (hierarchy `/` written as `.`), a message's flags after
//! `:2,` in its file name (D F R S T), and keywords as letters `a`–`z` indexed by the
//! folder's `dovecot-keywords` file. INTERNALDATE is the file's modification time. Folder
//! names are in modified UTF-7 on disk, as Dovecot writes them; Tern's names are UTF-8.

use tern_proto::imap::mutf7;

/// The folder of a mailbox, relative to the Maildir's root (`""` for the INBOX).
pub fn folder(mailbox: &str) -> String {
    if mailbox.eq_ignore_ascii_case("INBOX") {
        String::new()
    } else {
        format!(".{}", mutf7::encode(mailbox).replace('/', "."))
    }
}

/// The mailbox a folder holds (`.Sent.2024` → `Sent/2024`, `.Entw&APw-rfe` → `Entwürfe`; a
/// name that is not modified UTF-7 is taken as written).
pub fn mailbox(folder: &str) -> Option<String> {
    match folder {
        "" => Some("INBOX".into()),
        f => f
            .strip_prefix('.')
            .filter(|n| !n.is_empty())
            .map(|n| n.replace('.', "/"))
            .map(|n| mutf7::decode(&n).unwrap_or(n)),
    }
}

/// IMAP system flags and their Maildir letters, in the letters' ASCII order.
const LETTERS: [(char, &str); 5] = [
    ('D', "\\Draft"),
    ('F', "\\Flagged"),
    ('R', "\\Answered"),
    ('S', "\\Seen"),
    ('T', "\\Deleted"),
];

/// The info part of a file name (`2,FS` plus keyword letters) for these flags and keywords,
/// given the folder's keyword list (new keywords are added to it; at most 26 fit).
pub fn info(flags: &[String], keywords: &[String], known: &mut Vec<String>) -> String {
    let mut out = String::from("2,");
    for (letter, name) in LETTERS {
        if flags.iter().any(|f| f.eq_ignore_ascii_case(name)) {
            out.push(letter);
        }
    }
    let mut letters: Vec<char> = Vec::new();
    for k in keywords {
        let i = match known.iter().position(|x| x == k) {
            Some(i) => i,
            None if known.len() < 26 => {
                known.push(k.clone());
                known.len() - 1
            }
            None => continue,
        };
        letters.push((b'a' + i as u8) as char);
    }
    letters.sort_unstable();
    out.extend(letters);
    out
}

/// Flags and keywords from a file name's info part, given the folder's keyword list.
pub fn parse_info(file_name: &str, known: &[String]) -> (Vec<String>, Vec<String>) {
    let Some((_, info)) = file_name.rsplit_once(":2,") else {
        return (Vec::new(), Vec::new());
    };
    let mut flags = Vec::new();
    let mut keywords = Vec::new();
    for c in info.chars() {
        if let Some((_, name)) = LETTERS.iter().find(|(l, _)| *l == c) {
            flags.push(name.to_string());
        } else if c.is_ascii_lowercase()
            && let Some(k) = known.get((c as u8 - b'a') as usize)
        {
            keywords.push(k.clone());
        }
    }
    (flags, keywords)
}

/// `dovecot-keywords`: `0 $Important` lines.
pub fn keywords_file(known: &[String]) -> String {
    known
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{i} {k}\n"))
        .collect()
}

/// Reads `dovecot-keywords`.
pub fn parse_keywords_file(text: &str) -> Vec<String> {
    let mut out: Vec<(usize, String)> = text
        .lines()
        .filter_map(|l| {
            let (i, k) = l.split_once(' ')?;
            Some((i.parse().ok()?, k.trim().to_string()))
        })
        .filter(|(i, _)| *i < 26)
        .collect();
    out.sort();
    let mut known = vec![String::new(); out.last().map_or(0, |(i, _)| i + 1)];
    for (i, k) in out {
        known[i] = k;
    }
    known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_names_and_flags() {
        assert_eq!(folder("INBOX"), "");
        assert_eq!(folder("Sent/2024"), ".Sent.2024");
        assert_eq!(mailbox(".Sent.2024").as_deref(), Some("Sent/2024"));
        assert_eq!(mailbox("").as_deref(), Some("INBOX"));
        assert_eq!(mailbox("."), None);
        assert_eq!(folder("Entwürfe/2024"), ".Entw&APw-rfe.2024");
        assert_eq!(
            mailbox(".Entw&APw-rfe.2024").as_deref(),
            Some("Entwürfe/2024")
        );
        assert_eq!(mailbox(".Tom & Jerry").as_deref(), Some("Tom & Jerry"));
        let mut known = vec!["$Work".to_string()];
        let i = info(
            &["\\Seen".into(), "\\Flagged".into()],
            &["$Important".into(), "$Work".into()],
            &mut known,
        );
        assert_eq!(i, "2,FSab");
        assert_eq!(known, ["$Work", "$Important"]);
        let (flags, keywords) = parse_info("1700000000.T1V2.tern:2,FSab", &known);
        assert_eq!(flags, ["\\Flagged", "\\Seen"]);
        assert_eq!(keywords, ["$Work", "$Important"]);
        assert_eq!(parse_keywords_file(&keywords_file(&known)), known);
        assert_eq!(parse_info("1700000000.new", &known), (vec![], vec![]));
    }
}

//! SORT and UID SORT (RFC 5256, with RFC 5957's DISPLAYFROM / DISPLAYTO): the SEARCH matches
//! ordered by arrival, sent date, size, base subject, or the first From / To / Cc address, each
//! possibly reversed, ties broken by sequence number.

use std::{cmp::Ordering, num::NonZeroU32};

use tern_proto::imap::types::{
    core::{Charset, Tag, Vec1},
    extensions::sort::{SortCriterion, SortKey},
    response::Data,
    search::SearchKey,
};
use tern_store::model::summary::EnvelopeAddress;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    search::{Hit, bad_charset, hits_modseq, matching},
    session::{Flow, Session},
};

/// The base subject (RFC 5256 §2.1, simplified): lower-case, without leading `Re:`, `Fw:`,
/// `Fwd:` and `[...]` blobs, nor a trailing `(fwd)`.
pub fn base_subject(subject: &str) -> String {
    let mut s = subject.trim().to_lowercase();
    loop {
        let before = s.clone();
        while s.ends_with("(fwd)") {
            s.truncate(s.len() - 5);
            s = s.trim_end().to_string();
        }
        for prefix in ["re:", "fwd:", "fw:"] {
            if let Some(rest) = s.strip_prefix(prefix) {
                s = rest.trim_start().to_string();
            }
        }
        if s.starts_with('[')
            && let Some(end) = s.find(']')
            && end + 1 < s.len()
        {
            s = s[end + 1..].trim_start().to_string();
        }
        if s == before {
            return s;
        }
    }
}

fn address(list: &[EnvelopeAddress], display: bool) -> String {
    let Some(a) = list.first() else {
        return String::new();
    };
    match (&a.name, display) {
        (Some(name), true) if !name.is_empty() => name.to_lowercase(),
        _ => a.mailbox.as_deref().unwrap_or_default().to_lowercase(),
    }
}

fn compare(a: &Hit, b: &Hit, key: &SortKey) -> Ordering {
    let env = |h: &Hit| {
        h.summary
            .as_ref()
            .map(|s| s.envelope.clone())
            .unwrap_or_default()
    };
    match key {
        SortKey::Arrival => a.meta.internal_date.cmp(&b.meta.internal_date),
        SortKey::Size => a.meta.size.cmp(&b.meta.size),
        SortKey::Date => {
            let date = |h: &Hit| env(h).timestamp.unwrap_or(h.meta.internal_date);
            date(a).cmp(&date(b))
        }
        SortKey::Subject => base_subject(env(a).subject.as_deref().unwrap_or_default())
            .cmp(&base_subject(env(b).subject.as_deref().unwrap_or_default())),
        SortKey::From => address(&env(a).from, false).cmp(&address(&env(b).from, false)),
        SortKey::To => address(&env(a).to, false).cmp(&address(&env(b).to, false)),
        SortKey::Cc => address(&env(a).cc, false).cmp(&address(&env(b).cc, false)),
        SortKey::DisplayFrom => address(&env(a).from, true).cmp(&address(&env(b).from, true)),
        SortKey::DisplayTo => address(&env(a).to, true).cmp(&address(&env(b).to, true)),
    }
}

/// Handles `SORT (criteria) charset search-criteria` and `UID SORT`.
pub async fn handle_sort<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    order: Vec1<SortCriterion>,
    charset: Charset<'static>,
    criteria: Vec1<SearchKey<'static>>,
    by_uid: bool,
) -> Flow {
    if bad_charset(s, &tag, Some(&charset)) {
        return Flow::Continue;
    }
    let mut hits = match matching(s, criteria.clone(), true).await {
        Ok(h) => h,
        Err(e) => return s.fail(&tag, e.into()),
    };
    hits.sort_by(|a, b| {
        for c in order.as_ref() {
            let o = compare(a, b, &c.key);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.seq.cmp(&b.seq)
    });
    let modseq = hits_modseq(&criteria, &hits);
    let ids = hits
        .iter()
        .map(|h| {
            NonZeroU32::new(if by_uid { h.meta.uid } else { h.seq }).unwrap_or(NonZeroU32::MIN)
        })
        .collect();
    s.data(Data::Sort(ids, modseq));
    s.done(&tag, None, "SORT completed").await
}

#[cfg(test)]
mod tests {
    use super::base_subject;

    #[test]
    fn base_subjects() {
        assert_eq!(base_subject("Re: Fwd: [list] Hello"), "hello");
        assert_eq!(base_subject("RE:re: hello (fwd)"), "hello");
        assert_eq!(base_subject("[only]"), "[only]");
        assert_eq!(base_subject("  plain "), "plain");
    }
}

//! SEARCH and UID SEARCH with the RFC 9051 criteria: flags, keywords, sizes, internal and sent
//! dates, envelope addresses and subject (from the node's envelope cache), HEADER, BODY and
//! TEXT (from the body, read only when a criterion needs it), sequence and UID sets, NOT / OR /
//! AND, and MODSEQ (CONDSTORE, which also reports the highest MODSEQ of the matches). ESEARCH
//! answers (RFC 4731) take CONTEXT=SEARCH's PARTIAL and UPDATE (RFC 5267, `context.rs`). A search
//! that needs no body takes the records from the mailbox actor's index when it is current,
//! without reading each from the store.

use std::{
    num::{NonZeroU32, NonZeroU64},
    sync::Arc,
};

use chrono::NaiveDate;
use tern_proto::imap::{
    extensions::SearchReturn,
    sequence::{contains, ordered_set_text},
    types::{
        core::{AString, Charset, Tag, Vec1},
        response::{Code, Data},
        search::SearchKey,
    },
};
use tern_store::{
    blob,
    model::{
        MessageMeta, message,
        message::Flags,
        summary::{Envelope, EnvelopeAddress},
    },
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    context, index,
    metrics::METRICS,
    session::{Flow, Session},
};

/// Records read from the store per transaction when the index cannot answer.
const READ_BATCH: usize = 500;

/// What evaluating a key needs besides the message record.
#[derive(Default, Clone, Copy)]
struct Needs {
    envelope: bool,
    body: bool,
}

fn needs(key: &SearchKey<'_>, n: &mut Needs) {
    use SearchKey as K;
    match key {
        K::And(keys) => keys.as_ref().iter().for_each(|k| needs(k, n)),
        K::Not(k) => needs(k, n),
        K::Or(a, b) => {
            needs(a, n);
            needs(b, n);
        }
        K::From(_)
        | K::To(_)
        | K::Cc(_)
        | K::Bcc(_)
        | K::Subject(_)
        | K::SentBefore(_)
        | K::SentOn(_)
        | K::SentSince(_) => n.envelope = true,
        K::Header(..) | K::Body(_) | K::Text(_) => n.body = true,
        _ => {}
    }
}

/// One message as a search sees it.
struct Candidate<'a> {
    seq: u32,
    count: u32,
    last_uid: u32,
    meta: &'a MessageMeta,
    /// `\Recent` to this session.
    recent: bool,
    envelope: Option<&'a Envelope>,
    raw: Option<&'a [u8]>,
}

fn text(a: &AString<'_>) -> String {
    String::from_utf8_lossy(a.as_ref()).to_lowercase()
}

fn has(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(needle)
}

/// Whether an address field holds `needle` in an address or in the name of a group.
fn addr_match(list: &[EnvelopeAddress], needle: &str) -> bool {
    list.iter().any(|a| {
        if !a.is_address() {
            return a.starts_group().is_some_and(|group| has(group, needle));
        }
        let full = format!(
            "{} <{}@{}>",
            a.name.as_deref().unwrap_or(""),
            a.mailbox.as_deref().unwrap_or(""),
            a.host.as_deref().unwrap_or("")
        );
        has(&full, needle)
    })
}

fn day(secs: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .date_naive()
}

/// The date the `Date:` header names, in its own zone (RFC 3501 §6.4.4: SENTON and its kin
/// disregard time and timezone), else the UTC date of the parsed time.
fn sent_day(e: &Envelope) -> Option<NaiveDate> {
    e.date
        .as_deref()
        .and_then(|d| chrono::DateTime::parse_from_rfc2822(d.trim()).ok())
        .map(|d| d.date_naive())
        .or_else(|| e.timestamp.map(day))
}

fn header_of(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
        .unwrap_or(raw.len());
    &raw[..end]
}

fn eval(key: &SearchKey<'_>, c: &Candidate<'_>) -> bool {
    use SearchKey as K;
    let m = c.meta;
    let env = c.envelope;
    let flag = |f: Flags| m.flags.contains(f);
    match key {
        K::And(keys) => keys.as_ref().iter().all(|k| eval(k, c)),
        K::Not(k) => !eval(k, c),
        K::Or(a, b) => eval(a, c) || eval(b, c),
        K::All => true,
        K::SequenceSet(set) => contains(set, c.seq, c.count),
        K::Uid(set) => contains(set, m.uid, c.last_uid),
        K::Answered => flag(Flags::ANSWERED),
        K::Deleted => flag(Flags::DELETED),
        K::Draft => flag(Flags::DRAFT),
        K::Flagged => flag(Flags::FLAGGED),
        K::Seen => flag(Flags::SEEN),
        K::Unanswered => !flag(Flags::ANSWERED),
        K::Undeleted => !flag(Flags::DELETED),
        K::Undraft => !flag(Flags::DRAFT),
        K::Unflagged => !flag(Flags::FLAGGED),
        K::Unseen => !flag(Flags::SEEN),
        K::Recent => c.recent,
        K::New => c.recent && !flag(Flags::SEEN),
        K::Old => !c.recent,
        K::Keyword(k) => m
            .keywords
            .iter()
            .any(|x| x.eq_ignore_ascii_case(k.as_ref())),
        K::Unkeyword(k) => !m
            .keywords
            .iter()
            .any(|x| x.eq_ignore_ascii_case(k.as_ref())),
        K::Larger(n) => m.size > u64::from(*n),
        K::Smaller(n) => m.size < u64::from(*n),
        K::Before(d) => day(m.internal_date) < *d.as_ref(),
        K::On(d) => day(m.internal_date) == *d.as_ref(),
        K::Since(d) => day(m.internal_date) >= *d.as_ref(),
        K::SentBefore(d) => env.and_then(sent_day).is_some_and(|t| t < *d.as_ref()),
        K::SentOn(d) => env.and_then(sent_day).is_some_and(|t| t == *d.as_ref()),
        K::SentSince(d) => env.and_then(sent_day).is_some_and(|t| t >= *d.as_ref()),
        K::From(s) => env.is_some_and(|e| addr_match(&e.from, &text(s))),
        K::To(s) => env.is_some_and(|e| addr_match(&e.to, &text(s))),
        K::Cc(s) => env.is_some_and(|e| addr_match(&e.cc, &text(s))),
        K::Bcc(s) => env.is_some_and(|e| addr_match(&e.bcc, &text(s))),
        K::Subject(s) => env
            .and_then(|e| e.subject.as_deref())
            .is_some_and(|sub| has(sub, &text(s))),
        K::Header(name, value) => {
            let Some(raw) = c.raw else { return false };
            let name = text(name);
            let value = text(value);
            let header = String::from_utf8_lossy(header_of(raw))
                .replace("\r\n ", " ")
                .replace("\r\n\t", " ");
            header.lines().any(|line| {
                line.split_once(':')
                    .is_some_and(|(n, v)| n.trim().eq_ignore_ascii_case(&name) && has(v, &value))
            })
        }
        K::Body(s) => c.raw.is_some_and(|raw| {
            let h = header_of(raw).len();
            has(&String::from_utf8_lossy(&raw[h..]), &text(s))
        }),
        K::Text(s) => c
            .raw
            .is_some_and(|raw| has(&String::from_utf8_lossy(raw), &text(s))),
        K::ModSequence { modseq, .. } => m.modseq >= *modseq,
    }
}

fn uses_modseq(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::ModSequence { .. } => true,
        SearchKey::And(keys) => keys.as_ref().iter().any(uses_modseq),
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        _ => false,
    }
}

/// Writes `* ESEARCH (TAG "t") [UID] MIN MAX COUNT ALL [MODSEQ]` (RFC 4731) for `hits` in
/// the order given: ascending for SEARCH, the sort order for SORT (ESORT, RFC 5267 §3.1: MIN
/// and MAX are the first and last in that order, ALL keeps it). `imap-types` has no type for
/// it, so the line is written here.
pub(super) fn esearch<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: &Tag<'_>,
    by_uid: bool,
    ret: &SearchReturn,
    hits: &[NonZeroU32],
    modseq: Option<NonZeroU64>,
) {
    let values: Vec<u32> = hits.iter().map(|n| n.get()).collect();
    let mut line = format!("* ESEARCH (TAG \"{}\")", tag.as_ref());
    if by_uid {
        line.push_str(" UID");
    }
    if let (true, Some(min)) = (ret.min, values.first()) {
        line.push_str(&format!(" MIN {min}"));
    }
    if let (true, Some(max)) = (ret.max, values.last()) {
        line.push_str(&format!(" MAX {max}"));
    }
    if ret.count {
        line.push_str(&format!(" COUNT {}", values.len()));
    }
    if ret.all && !values.is_empty() {
        line.push_str(&format!(" ALL {}", ordered_set_text(&values)));
    }
    if let Some((low, high)) = ret.partial {
        let window = values
            .get(low as usize - 1..(high as usize).min(values.len()))
            .unwrap_or_default();
        let found = match window.is_empty() {
            true => "NIL".to_string(),
            false => ordered_set_text(window),
        };
        line.push_str(&format!(" PARTIAL ({low}:{high} {found})"));
    }
    if let Some(m) = modseq {
        line.push_str(&format!(" MODSEQ {m}"));
    }
    line.push_str("\r\n");
    s.conn.out().extend_from_slice(line.as_bytes());
}

/// A message that matched, with what was read to decide it.
pub struct Hit {
    /// Sequence number.
    pub seq: u32,
    /// The record.
    pub meta: MessageMeta,
    /// The envelope, when it was needed.
    pub envelope: Option<Arc<Envelope>>,
}

/// Refuses charsets other than UTF-8 and US-ASCII with `[BADCHARSET]`; `true` when refused.
pub fn bad_charset<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: &Tag<'_>,
    charset: Option<&Charset<'_>>,
) -> bool {
    let Some(cs) = charset else { return false };
    let name = cs.as_ref().to_ascii_uppercase();
    if name == "UTF-8" || name == "US-ASCII" {
        return false;
    }
    let allowed = vec![
        Charset::try_from("UTF-8").expect("valid"),
        Charset::try_from("US-ASCII").expect("valid"),
    ];
    s.no(
        tag,
        Some(Code::BadCharset { allowed }),
        &format!("charset {name} is not supported"),
    );
    true
}

/// The messages of the selected mailbox that match `criteria`, in sequence order; with
/// `envelopes` the envelope of each hit is read even if no criterion needs it (SORT).
pub async fn matching<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    criteria: Vec1<SearchKey<'static>>,
    envelopes: bool,
) -> Result<Vec<Hit>, tern_store::StoreError> {
    let key = SearchKey::And(criteria);
    let mut need = Needs::default();
    needs(&key, &mut need);
    need.envelope |= envelopes;
    if uses_modseq(&key) {
        super::enable::condstore(s);
    }
    let Some(sel) = s.selected.as_ref() else {
        return Ok(Vec::new());
    };
    let mailbox = sel.mailbox.id;
    let uids = sel.uids();
    let recent = sel.recent_uids().to_vec();
    let published = sel.sub.rx.borrow().index.clone();
    let db = s.ctx.dir.db().clone();
    let cache = s.ctx.envelopes.clone();
    let count = uids.len() as u32;
    let last_uid = uids.last().copied().unwrap_or(0);
    // The records in sequence order (`None`: expunged since the view was taken), from the
    // mailbox actor's index when it is current and no body is needed, else from the store.
    let index = match need.body {
        false => index::current(&db, mailbox, published).await?,
        true => None,
    };
    let source = if index.is_some() { "index" } else { "store" };
    METRICS.search_sources.with_label_values(&[source]).inc();
    let mut hits = Vec::new();
    for (chunk_no, chunk) in uids.chunks(READ_BATCH).enumerate() {
        let read: Vec<Option<MessageMeta>>;
        let metas: Vec<Option<&MessageMeta>> = match &index {
            Some(index) => chunk.iter().map(|&uid| index.get(uid)).collect(),
            None => {
                read = db
                    .run(|tx| async move {
                        let mut out = Vec::with_capacity(chunk.len());
                        for &uid in chunk {
                            out.push(message::get(&tx, mailbox, uid).await?);
                        }
                        Ok(out)
                    })
                    .await?;
                read.iter().map(Option::as_ref).collect()
            }
        };
        let envelopes = match need.envelope {
            true => {
                let blobs: Vec<_> = metas.iter().flatten().map(|m| m.blob).collect();
                cache.of(&db, &blobs).await?
            }
            false => Vec::new(),
        };
        let mut envelopes = envelopes.into_iter();
        for (i, meta) in metas.into_iter().enumerate() {
            let Some(meta) = meta else { continue };
            let envelope = envelopes.next();
            let raw = match need.body {
                true => blob::read(&db, meta.blob).await.ok(),
                false => None,
            };
            let seq = (chunk_no * READ_BATCH + i) as u32 + 1;
            let c = Candidate {
                seq,
                count,
                last_uid,
                meta,
                recent: recent.binary_search(&meta.uid).is_ok(),
                envelope: envelope.as_deref(),
                raw: raw.as_deref(),
            };
            if eval(&key, &c) {
                hits.push(Hit {
                    seq,
                    meta: meta.clone(),
                    envelope,
                });
            }
        }
    }
    Ok(hits)
}

/// The highest MODSEQ of the hits, when the search used MODSEQ.
pub fn hits_modseq(criteria: &Vec1<SearchKey<'_>>, hits: &[Hit]) -> Option<NonZeroU64> {
    let uses = criteria.as_ref().iter().any(uses_modseq);
    uses.then(|| NonZeroU64::new(hits.iter().map(|h| h.meta.modseq).max().unwrap_or(0)))
        .flatten()
}

/// Handles `SEARCH` and `UID SEARCH` (with `RETURN (...)`: ESEARCH).
pub async fn handle_search<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    charset: Option<Charset<'static>>,
    criteria: Vec1<SearchKey<'static>>,
    by_uid: bool,
    ret: Option<SearchReturn>,
) -> Flow {
    if bad_charset(s, &tag, charset.as_ref()) {
        return Flow::Continue;
    }
    if s.selected.is_none() {
        return s.bad(&tag, None, "no mailbox selected");
    }
    // IMAP4rev2 answers every SEARCH with ESEARCH: no RETURN is RETURN (ALL) (RFC 9051 §6.4.4).
    let ret = ret.or_else(|| {
        s.reporting.rev2.then(|| SearchReturn {
            all: true,
            ..SearchReturn::default()
        })
    });
    let found = match matching(s, criteria.clone(), false).await {
        Ok(h) => h,
        Err(e) => return s.fail(&tag, e.into()),
    };
    // RFC 7162 §3.1.5: with only MIN and/or MAX returned, the MODSEQ is that of the messages
    // returned, not of every match.
    let modseq = match &ret {
        Some(r) if (r.min || r.max) && !r.all && !r.count => {
            let mut returned = Vec::new();
            if r.min {
                returned.extend(found.first());
            }
            if r.max {
                returned.extend(found.last());
            }
            let ms = returned.iter().map(|h| h.meta.modseq).max().unwrap_or(0);
            hits_modseq(&criteria, &found).and(NonZeroU64::new(ms))
        }
        _ => hits_modseq(&criteria, &found),
    };
    let hits: Vec<NonZeroU32> = found
        .iter()
        .map(|h| {
            NonZeroU32::new(if by_uid { h.meta.uid } else { h.seq }).unwrap_or(NonZeroU32::MIN)
        })
        .collect();
    match ret {
        Some(ret) => {
            esearch(s, &tag, by_uid, &ret, &hits, modseq);
            if ret.update {
                let ctx = context::Context {
                    tag: tag.as_ref().to_string(),
                    by_uid,
                    criteria,
                    order: None,
                    result: context::result_of(&found),
                };
                context::keep(s, ctx);
            }
        }
        None => s.data(Data::Search(hits, modseq)),
    }
    s.done(&tag, None, "SEARCH completed").await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(date: &str, timestamp: Option<i64>) -> Option<NaiveDate> {
        sent_day(&Envelope {
            date: Some(date.to_string()),
            timestamp,
            ..Envelope::default()
        })
    }

    #[test]
    fn the_sent_date_is_the_headers_own_date() {
        let day = |d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
        // RFC 3501's rule: 26 March in +0300 is 25 March 21:00 UTC, and still SENTON 26-Mar.
        assert_eq!(
            sent("Mon, 26 Mar 2007 00:00:00 +0300", Some(1174856400)),
            day("2007-03-26")
        );
        assert_eq!(
            sent("Mon, 26 Mar 2007 23:30:00 -0500", Some(1174969800)),
            day("2007-03-26")
        );
        // Unparseable as RFC 2822: the UTC date of what mail-parser made of it.
        assert_eq!(sent("yesterday-ish", Some(1174856400)), day("2007-03-25"));
        assert_eq!(sent("yesterday-ish", None), None);
    }
}

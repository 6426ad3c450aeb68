//! SORT and UID SORT (RFC 5256, with RFC 5957's DISPLAYFROM / DISPLAYTO): the SEARCH matches
//! ordered by arrival, sent date, size, base subject, or the first From / To / Cc address, each
//! possibly reversed, ties broken by sequence number; ESORT's `RETURN (...)` (RFC 5267), with
//! CONTEXT=SORT's PARTIAL and UPDATE.

use std::{cmp::Ordering, num::NonZeroU32};

use tern_proto::imap::extensions::SearchReturn;
use tern_proto::imap::types::{
    core::{Charset, Tag, Vec1},
    extensions::sort::{SortCriterion, SortKey},
    response::Data,
    search::SearchKey,
};
use tern_store::model::summary::{Envelope, EnvelopeAddress};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    base_subject::base_subject,
    context,
    search::{Hit, bad_charset, esearch, hits_modseq, matching},
    session::{Flow, Session},
};

/// The sort text of the first address of a field (group markers are not addresses).
fn address(list: &[EnvelopeAddress], display: bool) -> String {
    let Some(a) = list.iter().find(|a| a.is_address()) else {
        return String::new();
    };
    match (&a.name, display) {
        (Some(name), true) if !name.is_empty() => name.to_lowercase(),
        _ => a.mailbox.as_deref().unwrap_or_default().to_lowercase(),
    }
}

/// What one criterion sorts a message by, computed once per message (not per comparison).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Number(i64),
    Text(String),
}

fn value(h: &Hit, key: &SortKey) -> Value {
    let env = h.envelope.as_deref();
    let list = |pick: fn(&Envelope) -> &Vec<EnvelopeAddress>| env.map_or(&[][..], |e| pick(e));
    match key {
        SortKey::Arrival => Value::Number(h.meta.internal_date),
        SortKey::Size => Value::Number(h.meta.size as i64),
        SortKey::Date => Value::Number(
            env.and_then(|e| e.timestamp)
                .unwrap_or(h.meta.internal_date),
        ),
        SortKey::Subject => Value::Text(base_subject(
            env.and_then(|e| e.subject.as_deref()).unwrap_or_default(),
        )),
        SortKey::From => Value::Text(address(list(|e| &e.from), false)),
        SortKey::To => Value::Text(address(list(|e| &e.to), false)),
        SortKey::Cc => Value::Text(address(list(|e| &e.cc), false)),
        SortKey::DisplayFrom => Value::Text(address(list(|e| &e.from), true)),
        SortKey::DisplayTo => Value::Text(address(list(|e| &e.to), true)),
    }
}

/// `hits` in the order of `order`, ties by sequence number.
pub fn sorted(hits: Vec<Hit>, order: &Vec1<SortCriterion>) -> Vec<Hit> {
    let mut keyed: Vec<(Vec<Value>, Hit)> = hits
        .into_iter()
        .map(|h| {
            (
                order.as_ref().iter().map(|c| value(&h, &c.key)).collect(),
                h,
            )
        })
        .collect();
    keyed.sort_by(|(a_keys, a), (b_keys, b)| {
        for ((x, y), c) in a_keys.iter().zip(b_keys).zip(order.as_ref()) {
            let o = if c.reverse { y.cmp(x) } else { x.cmp(y) };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.seq.cmp(&b.seq)
    });
    keyed.into_iter().map(|(_, h)| h).collect()
}

/// Handles `SORT (criteria) charset search-criteria` and `UID SORT`; with `RETURN (...)`,
/// an ESEARCH answer in sort order (ESORT, RFC 5267).
pub async fn handle_sort<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    order: Vec1<SortCriterion>,
    charset: Charset<'static>,
    criteria: Vec1<SearchKey<'static>>,
    by_uid: bool,
    ret: Option<SearchReturn>,
) -> Flow {
    if bad_charset(s, &tag, Some(&charset)) {
        return Flow::Continue;
    }
    let hits = match matching(s, criteria.clone(), true).await {
        Ok(h) => h,
        Err(e) => return s.fail(&tag, e.into()),
    };
    let hits = sorted(hits, &order);
    let modseq = hits_modseq(&criteria, &hits);
    let ids: Vec<NonZeroU32> = hits
        .iter()
        .map(|h| {
            NonZeroU32::new(if by_uid { h.meta.uid } else { h.seq }).unwrap_or(NonZeroU32::MIN)
        })
        .collect();
    match ret {
        Some(ret) => {
            esearch(s, &tag, by_uid, &ret, &ids, modseq);
            if ret.update {
                let ctx = context::Context {
                    tag: tag.as_ref().to_string(),
                    by_uid,
                    criteria,
                    order: Some(order),
                    result: context::result_of(&hits),
                };
                context::keep(s, ctx);
            }
        }
        None => s.data(Data::Sort(ids, modseq)),
    }
    s.done(&tag, None, "SORT completed").await
}

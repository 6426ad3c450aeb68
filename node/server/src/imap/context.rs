//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267): searches and sorts kept up to date. A SEARCH
//! or SORT with `RETURN (UPDATE)` leaves a [`Context`] on the selected mailbox — its criteria
//! and its result as UIDs in result order. When the view changes, the search runs again and
//! the difference goes to the client as `ESEARCH (TAG ..) ADDTO (position id ..)` and
//! `REMOVEFROM (position id ..)`, positions counted in the whole result as it changes (so a
//! client can keep a window of a sorted list without reading it again). Messages that are
//! expunged leave their contexts before the EXPUNGE that renumbers the mailbox is written.
//! CANCELUPDATE ends a context; leaving the mailbox ends them all.

use tern_proto::imap::{
    sequence::ordered_set_text,
    types::{
        core::{Tag, Vec1},
        extensions::sort::SortCriterion,
        search::SearchKey,
    },
    uidmap::UidMap,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    metrics::METRICS,
    search::matching,
    session::{Flow, Session},
    sort::sorted,
};

/// Searches a session may keep updated at once; one more is answered `[NOUPDATE]`.
pub const MAX_CONTEXTS: usize = 8;

/// A search or sort the client asked to be kept up to date.
pub struct Context {
    /// The tag of the command that made it (named in every update).
    pub tag: String,
    /// UID SEARCH / UID SORT: updates name UIDs, else sequence numbers.
    pub by_uid: bool,
    /// The search criteria.
    pub criteria: Vec1<SearchKey<'static>>,
    /// The sort order (SORT), or `None` for a search (ascending).
    pub order: Option<Vec1<SortCriterion>>,
    /// The result as UIDs, in result order.
    pub result: Vec<u32>,
}

/// How the result changed: each removal and each addition as (1-based position, UID),
/// removals first and in the order they apply, positions in the list as it is at that step.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Messages that left the result.
    pub removed: Vec<(u32, u32)>,
    /// Messages that joined it.
    pub added: Vec<(u32, u32)>,
}

/// The changes from `old` to `new`. The messages in both keep their relative order (sort keys
/// do not change and ties go by UID), so removing what left and then inserting what joined, in
/// ascending order, turns one into the other.
pub fn diff(old: &[u32], new: &[u32]) -> Diff {
    let in_new: std::collections::HashSet<u32> = new.iter().copied().collect();
    let in_old: std::collections::HashSet<u32> = old.iter().copied().collect();
    let mut d = Diff::default();
    for (i, uid) in old.iter().enumerate() {
        if !in_new.contains(uid) {
            let position = i - d.removed.len() + 1;
            d.removed.push((position as u32, *uid));
        }
    }
    for (j, uid) in new.iter().enumerate() {
        if !in_old.contains(uid) {
            d.added.push((j as u32 + 1, *uid));
        }
    }
    d
}

/// The update line for `changes` (`ADDTO` or `REMOVEFROM`), ids as the context names them. A
/// search's changes at neighbouring positions share one pair (`ADDTO (4 7:9)`); a sort's are
/// one pair each, since a set does not carry an order.
fn line(
    ctx: &Context,
    kind: &str,
    changes: &[(u32, u32)],
    id: impl Fn(u32) -> Option<u32>,
) -> String {
    let adding = kind == "ADDTO";
    let mut groups: Vec<(u32, Vec<u32>)> = Vec::new();
    for &(position, uid) in changes {
        let Some(n) = id(uid) else { continue };
        let follows = |(start, ids): &(u32, Vec<u32>)| {
            let next = if adding {
                start + ids.len() as u32
            } else {
                *start
            };
            ctx.order.is_none() && next == position
        };
        match groups.last_mut() {
            Some(g) if follows(g) => g.1.push(n),
            _ => groups.push((position, vec![n])),
        }
    }
    let pairs: Vec<String> = groups
        .iter()
        .map(|(position, ids)| format!("{position} {}", ordered_set_text(ids)))
        .collect();
    let uid = if ctx.by_uid { " UID" } else { "" };
    METRICS
        .search_updates
        .with_label_values(&[&kind.to_ascii_lowercase()])
        .inc();
    format!(
        "* ESEARCH (TAG \"{}\"){uid} {kind} ({})\r\n",
        ctx.tag,
        pairs.join(" ")
    )
}

fn id_in(ctx: &Context, uids: &UidMap, uid: u32) -> Option<u32> {
    match ctx.by_uid {
        true => Some(uid),
        false => uids.index_of(uid).map(|i| i as u32 + 1),
    }
}

/// Takes the `expunged` messages out of every context, writing the REMOVEFROM updates while
/// `uids` (the view before the expunge) still numbers them.
pub fn drop_expunged(contexts: &mut [Context], expunged: &[u32], uids: &UidMap, out: &mut Vec<u8>) {
    for ctx in contexts {
        let kept: Vec<u32> = ctx
            .result
            .iter()
            .copied()
            .filter(|u| !expunged.contains(u))
            .collect();
        if kept.len() == ctx.result.len() {
            continue;
        }
        let d = diff(&ctx.result, &kept);
        out.extend_from_slice(
            line(ctx, "REMOVEFROM", &d.removed, |u| id_in(ctx, uids, u)).as_bytes(),
        );
        ctx.result = kept;
    }
}

/// The UIDs of `hits`, in result order.
pub fn result_of(hits: &[super::search::Hit]) -> Vec<u32> {
    hits.iter().map(|h| h.meta.uid).collect()
}

/// Runs every context of the selected mailbox again and writes what changed.
pub async fn refresh<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
) -> Result<(), tern_store::StoreError> {
    let Some(sel) = s.selected.as_mut() else {
        return Ok(());
    };
    let mut contexts = std::mem::take(&mut sel.contexts);
    let mut outcome = Ok(());
    for ctx in &mut contexts {
        let hits = match matching(s, ctx.criteria.clone(), ctx.order.is_some()).await {
            Ok(h) => h,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        };
        let hits = match &ctx.order {
            Some(order) => sorted(hits, order),
            None => hits,
        };
        let new = result_of(&hits);
        let d = diff(&ctx.result, &new);
        ctx.result = new;
        let Some(sel) = s.selected.as_ref() else {
            break;
        };
        let mut text = String::new();
        if !d.removed.is_empty() {
            text.push_str(&line(ctx, "REMOVEFROM", &d.removed, |u| {
                id_in(ctx, &sel.uids, u)
            }));
        }
        if !d.added.is_empty() {
            text.push_str(&line(ctx, "ADDTO", &d.added, |u| id_in(ctx, &sel.uids, u)));
        }
        s.conn.out().extend_from_slice(text.as_bytes());
    }
    if let Some(sel) = s.selected.as_mut() {
        sel.contexts = contexts;
    }
    outcome
}

/// Keeps the search or sort `tag` just answered up to date, or says `[NOUPDATE]` when the
/// session already keeps as many as it may.
pub fn keep<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>, ctx: Context) {
    let Some(sel) = s.selected.as_mut() else {
        return;
    };
    sel.contexts.retain(|c| c.tag != ctx.tag);
    if sel.contexts.len() >= MAX_CONTEXTS {
        let text = format!(
            "* NO [NOUPDATE \"{}\"] this session already keeps {MAX_CONTEXTS} searches updated; \
             CANCELUPDATE one first\r\n",
            ctx.tag
        );
        s.conn.out().extend_from_slice(text.as_bytes());
        METRICS
            .search_updates
            .with_label_values(&["noupdate"])
            .inc();
        tracing::info!(session = %s.id, tag = %ctx.tag, "search not kept updated: session at its limit");
        return;
    }
    sel.contexts.push(ctx);
}

/// Handles `CANCELUPDATE "tag" ...`: those searches are no longer updated; tags of no
/// updated search are `BAD`.
pub fn handle_cancelupdate<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    tags: Vec<String>,
) -> Flow {
    let contexts = s.selected.as_mut().map(|sel| &mut sel.contexts);
    let mut unknown = Vec::new();
    match contexts {
        Some(contexts) => {
            for t in tags {
                let before = contexts.len();
                contexts.retain(|c| c.tag != t);
                if contexts.len() == before {
                    unknown.push(t);
                }
            }
        }
        None => unknown = tags,
    }
    if unknown.is_empty() {
        return s.ok(&tag, None, "CANCELUPDATE completed");
    }
    let text = format!("no search updated under {}", unknown.join(", "));
    s.bad(&tag, None, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals_then_additions_in_the_order_they_apply() {
        // 3 and 4 leave (both at position 2 as the list shrinks), 9 and 1 join.
        let d = diff(&[2, 3, 4, 5], &[1, 2, 5, 9]);
        assert_eq!(d.removed, [(2, 3), (2, 4)]);
        assert_eq!(d.added, [(1, 1), (4, 9)]);
        // Applying them gives the new list.
        let mut list = vec![2, 3, 4, 5];
        for (p, u) in &d.removed {
            assert_eq!(list.remove(*p as usize - 1), *u);
        }
        for (p, u) in &d.added {
            list.insert(*p as usize - 1, *u);
        }
        assert_eq!(list, [1, 2, 5, 9]);
        assert_eq!(diff(&[1, 2], &[1, 2]), Diff::default());
    }

    fn ctx(order: bool) -> Context {
        let key = SearchKey::All;
        Context {
            tag: "B01".into(),
            by_uid: true,
            criteria: Vec1::from(key),
            order: order.then(|| {
                Vec1::from(SortCriterion {
                    reverse: false,
                    key: tern_proto::imap::types::extensions::sort::SortKey::Size,
                })
            }),
            result: Vec::new(),
        }
    }

    #[test]
    fn a_search_groups_neighbours_and_a_sort_does_not() {
        let adds = [(4, 7), (5, 8), (6, 9), (9, 12)];
        assert_eq!(
            line(&ctx(false), "ADDTO", &adds, Some),
            "* ESEARCH (TAG \"B01\") UID ADDTO (4 7:9 9 12)\r\n"
        );
        assert_eq!(
            line(&ctx(true), "ADDTO", &adds, Some),
            "* ESEARCH (TAG \"B01\") UID ADDTO (4 7 5 8 6 9 9 12)\r\n"
        );
        let removes = [(2, 3), (2, 4), (5, 9)];
        assert_eq!(
            line(&ctx(false), "REMOVEFROM", &removes, Some),
            "* ESEARCH (TAG \"B01\") UID REMOVEFROM (2 3:4 5 9)\r\n"
        );
    }
}

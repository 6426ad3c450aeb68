//! Sequence sets against a mailbox view: which messages a set names (by sequence number or by
//! UID), and UID lists written back as compact sets (for COPYUID, VANISHED and MODIFIED).

use std::num::NonZeroU32;

use imap_codec::imap_types::{
    core::Vec1,
    extensions::uidplus::{UidElement, UidSet},
    sequence::{SeqOrUid, Sequence, SequenceSet},
};

/// Zero-based positions in `uids` (ascending) named by `set`, ascending and without repeats.
/// By sequence number `*` is the last message; by UID it is the highest UID, and a range
/// reaching past the end still names the last message (RFC 9051 §6.4.8).
pub fn resolve(set: &SequenceSet, uids: &[u32], by_uid: bool) -> Vec<usize> {
    let Some(&last_uid) = uids.last() else {
        return Vec::new();
    };
    let largest = if by_uid { last_uid } else { uids.len() as u32 };
    let value = |s: &SeqOrUid| match s {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => largest,
    };
    let mut out = Vec::new();
    for seq in set.0.as_ref() {
        let (lo, hi) = match seq {
            Sequence::Single(s) => (value(s), value(s)),
            Sequence::Range(a, b) => {
                let (a, b) = (value(a), value(b));
                (a.min(b), a.max(b))
            }
        };
        if by_uid {
            let start = uids.partition_point(|u| *u < lo);
            let end = uids.partition_point(|u| *u <= hi);
            out.extend(start..end);
        } else {
            let hi = hi.min(largest);
            if lo >= 1 && lo <= hi {
                out.extend((lo as usize - 1)..(hi as usize));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether `set` names `n`, with `*` standing for `largest`.
pub fn contains(set: &SequenceSet, n: u32, largest: u32) -> bool {
    let value = |s: &SeqOrUid| match s {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => largest,
    };
    set.0.as_ref().iter().any(|s| match s {
        Sequence::Single(a) => value(a) == n,
        Sequence::Range(a, b) => {
            let (a, b) = (value(a), value(b));
            a.min(b) <= n && n <= a.max(b)
        }
    })
}

/// Whether a sequence-number set names a message past the end (a client error: `BAD`).
pub fn out_of_range(set: &SequenceSet, count: usize) -> bool {
    set.0.as_ref().iter().any(|s| {
        let over = |v: &SeqOrUid| matches!(v, SeqOrUid::Value(n) if n.get() as usize > count);
        match s {
            Sequence::Single(a) => over(a),
            Sequence::Range(a, b) => over(a) && over(b),
        }
    })
}

/// Ascending values as runs `(first, last)`.
fn runs(values: &[u32]) -> Vec<(u32, u32)> {
    let mut sorted: Vec<u32> = values.iter().copied().filter(|v| *v > 0).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for v in sorted {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == v => *end = v,
            _ => runs.push((v, v)),
        }
    }
    runs
}

/// Runs as set text (`1:3,5`).
fn runs_text(runs: Vec<(u32, u32)>) -> String {
    runs.into_iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}:{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Values in their own order as set text, ascending consecutive runs joined (`5,1:3,9`): an
/// ESORT result (RFC 5267 §3.1), where the order is the sort order.
pub fn ordered_set_text(values: &[u32]) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &v in values {
        match runs.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(v) => *end = v,
            _ => runs.push((v, v)),
        }
    }
    runs_text(runs)
}

/// Values as set text in runs (`1:3,5`); empty when there are none.
pub fn set_text(values: &[u32]) -> String {
    runs_text(runs(values))
}

fn nz(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

/// Values as a sequence set in runs; `None` when empty.
pub fn to_set(values: &[u32]) -> Option<SequenceSet> {
    let seqs: Vec<Sequence> = runs(values)
        .into_iter()
        .map(|(a, b)| {
            if a == b {
                Sequence::Single(SeqOrUid::Value(nz(a)))
            } else {
                Sequence::Range(SeqOrUid::Value(nz(a)), SeqOrUid::Value(nz(b)))
            }
        })
        .collect();
    Vec1::try_from(seqs).ok().map(SequenceSet)
}

/// UIDs as a UIDPLUS set, keeping their order (COPYUID pairs source and destination by
/// position, so runs are only merged where both ascend together).
pub fn to_uid_set(values: &[u32]) -> Option<UidSet> {
    let mut elems: Vec<UidElement> = Vec::new();
    for &v in values.iter().filter(|v| **v > 0) {
        match elems.last_mut() {
            Some(UidElement::Single(a)) if a.get() + 1 == v => {
                *elems.last_mut().expect("non-empty") = UidElement::Range(*a, nz(v));
            }
            Some(UidElement::Range(_, b)) if b.get() + 1 == v => *b = nz(v),
            _ => elems.push(UidElement::Single(nz(v))),
        }
    }
    Vec1::try_from(elems).ok().map(UidSet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> SequenceSet {
        SequenceSet::try_from(s).expect("valid set")
    }

    #[test]
    fn ordered_sets_keep_their_order() {
        assert_eq!(ordered_set_text(&[2, 3, 1, 4]), "2:3,1,4");
        assert_eq!(ordered_set_text(&[9, 8, 7]), "9,8,7");
        assert_eq!(ordered_set_text(&[1, 2, 3, 5]), set_text(&[1, 2, 3, 5]));
        assert_eq!(ordered_set_text(&[u32::MAX, 1]), format!("{},1", u32::MAX));
        assert_eq!(ordered_set_text(&[]), "");
    }

    #[test]
    fn sequence_numbers_and_star() {
        let uids = [3, 7, 9, 20];
        assert_eq!(resolve(&set("1"), &uids, false), vec![0]);
        assert_eq!(resolve(&set("2:*"), &uids, false), vec![1, 2, 3]);
        assert_eq!(resolve(&set("*:3"), &uids, false), vec![2, 3]);
        assert_eq!(resolve(&set("4,1,4"), &uids, false), vec![0, 3]);
        assert_eq!(resolve(&set("9"), &uids, false), Vec::<usize>::new());
        assert!(out_of_range(&set("9"), 4));
        assert!(!out_of_range(&set("1:*"), 4));
        assert!(contains(&set("2:*"), 4, 4));
        assert!(!contains(&set("2:3"), 4, 4));
    }

    #[test]
    fn uids_and_ranges_past_the_end() {
        let uids = [3, 7, 9, 20];
        assert_eq!(resolve(&set("7:9"), &uids, true), vec![1, 2]);
        assert_eq!(resolve(&set("8"), &uids, true), Vec::<usize>::new());
        assert_eq!(resolve(&set("21:*"), &uids, true), vec![3]);
        assert_eq!(resolve(&set("1:*"), &uids, true), vec![0, 1, 2, 3]);
        assert_eq!(resolve(&set("1:*"), &[], true), Vec::<usize>::new());
    }

    #[test]
    fn values_back_to_sets() {
        let s = to_set(&[5, 1, 2, 3, 9]).expect("set");
        assert_eq!(s, set("1:3,5,9"));
        assert!(to_set(&[]).is_none());
        assert_eq!(set_text(&[5, 1, 2, 3, 9]), "1:3,5,9");
        let u = to_uid_set(&[4, 5, 6, 2]).expect("set");
        assert_eq!(u.0.as_ref().len(), 2);
    }
}

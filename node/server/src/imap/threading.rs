//! THREAD's two algorithms (RFC 5256 §2.1–2.2), without I/O, over the messages SEARCH
//! matched: ORDEREDSUBJECT groups by base subject; REFERENCES links messages by their
//! Message-ID and References (In-Reply-To when there are none), prunes the placeholders of
//! messages not in the set, merges roots by base subject and sorts by sent date. Nesting is
//! bounded at [`MAX_DEPTH`] (deeper replies hang at that depth) so that a crafted chain of
//! references cannot exhaust the stack of whatever walks the result.

use std::{
    collections::{HashMap, VecDeque},
    num::NonZeroU32,
};

use tern_proto::imap::types::{
    core::{Vec1, Vec2},
    extensions::thread::Thread,
};

use super::base_subject::base_subject;

/// How deep threads nest.
pub const MAX_DEPTH: usize = 256;

/// How far up a chain of references is followed to keep links free of loops.
const MAX_WALK: usize = 4 * MAX_DEPTH;

/// One message to thread, given in sequence order (the order breaks ties).
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// What the response names it by (sequence number or UID).
    pub id: u32,
    /// Its sent date (the Date header, else the internal date), Unix seconds.
    pub date: i64,
    /// Its subject, decoded.
    pub subject: String,
    /// Message-ID, without angle brackets.
    pub message_id: Option<String>,
    /// The ids it replies to, oldest first, without angle brackets.
    pub references: Vec<String>,
}

/// A thread as a tree: a message (or a placeholder) and its replies.
#[derive(Debug, Default)]
struct Node {
    msg: Option<usize>,
    children: Vec<Node>,
}

impl Node {
    fn leaf(msg: usize) -> Self {
        Node {
            msg: Some(msg),
            children: Vec::new(),
        }
    }
}

/// Whether a subject marks a reply or forward (`Re:`, `Fwd:`, `[fwd: …]`, `… (fwd)`), which
/// is what RFC 5256 §2.2 step 5 asks of a subject.
fn is_reply(subject: &str) -> bool {
    let s = subject.trim().to_lowercase();
    if s.ends_with("(fwd)") || s.starts_with("[fwd:") {
        return true;
    }
    let mut rest = s.as_str();
    // Leading blobs (`[list] Re: …`).
    while let Some(after) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
        rest = after.1.trim_start();
    }
    let rest = ["re", "fwd", "fw"]
        .iter()
        .find_map(|w| rest.strip_prefix(w))
        .map(str::trim_start);
    let Some(mut rest) = rest else { return false };
    if let Some(after) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
        rest = after.1.trim_start();
    }
    rest.starts_with(':')
}

/// The sort key of a node: its message's date, or its first child's (RFC 5256 §2.2 step 6).
fn key(n: &Node, msgs: &[Message]) -> (i64, usize) {
    match (n.msg, n.children.first()) {
        (Some(i), _) => (msgs[i].date, i),
        (None, Some(first)) => key(first, msgs),
        (None, None) => (i64::MAX, usize::MAX),
    }
}

fn sort(nodes: &mut [Node], msgs: &[Message]) {
    for n in nodes.iter_mut() {
        sort(&mut n.children, msgs);
    }
    nodes.sort_by_key(|n| key(n, msgs));
}

/// RFC 5256 §2.2 step 4: placeholders without children go; a placeholder's children take its
/// place, except at the root where it stays when it holds several.
fn prune(nodes: Vec<Node>, root: bool) -> Vec<Node> {
    let mut out = Vec::with_capacity(nodes.len());
    for mut n in nodes {
        n.children = prune(std::mem::take(&mut n.children), false);
        match (n.msg, n.children.len()) {
            (None, 0) => {}
            (None, 1) => out.extend(n.children),
            (None, _) if !root => out.extend(n.children),
            _ => out.push(n),
        }
    }
    out
}

fn nz(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN)
}

/// A tree as the THREAD response nests it: a run of single replies is one list of numbers.
fn to_thread(n: &Node, msgs: &[Message]) -> Option<Thread> {
    let answers = |children: &[Node]| -> Vec<Thread> {
        children.iter().filter_map(|c| to_thread(c, msgs)).collect()
    };
    let Some(first) = n.msg else {
        let mut threads = answers(&n.children);
        return match threads.len() {
            0 => None,
            1 => threads.pop(),
            _ => Vec2::try_from(threads)
                .ok()
                .map(|answers| Thread::Nested { answers }),
        };
    };
    let mut prefix = vec![nz(msgs[first].id)];
    let mut at = n;
    while let [only] = &at.children[..] {
        let Some(i) = only.msg else { break };
        prefix.push(nz(msgs[i].id));
        at = only;
    }
    let mut rest = answers(&at.children);
    let answers = match rest.len() {
        0 => None,
        1 => {
            // A lone placeholder's replies (not left by pruning, but cheap to allow).
            match rest.pop() {
                Some(Thread::Nested { answers }) => Some(answers),
                Some(Thread::Members {
                    prefix: more,
                    answers,
                }) => {
                    prefix.extend(more.into_inner());
                    answers
                }
                None => None,
            }
        }
        _ => Vec2::try_from(rest).ok(),
    };
    Some(Thread::Members {
        prefix: Vec1::try_from(prefix).ok()?,
        answers,
    })
}

/// ORDEREDSUBJECT: one thread per base subject, its first message (by sent date) the parent
/// of all the others; threads in the order of their first message.
pub fn ordered_subject(msgs: &[Message]) -> Vec<Thread> {
    let bases: Vec<String> = msgs.iter().map(|m| base_subject(&m.subject)).collect();
    let mut order: Vec<usize> = (0..msgs.len()).collect();
    order.sort_by(|&a, &b| (&bases[a], msgs[a].date, a).cmp(&(&bases[b], msgs[b].date, b)));
    let mut roots: Vec<Node> = Vec::new();
    for group in order.chunk_by(|&a, &b| bases[a] == bases[b]) {
        roots.push(Node {
            msg: Some(group[0]),
            children: group[1..].iter().map(|&i| Node::leaf(i)).collect(),
        });
    }
    roots.sort_by_key(|n| key(n, msgs));
    roots.iter().filter_map(|n| to_thread(n, msgs)).collect()
}

/// A message's container and the links between containers (RFC 5256 §2.2 step 1).
#[derive(Default)]
struct Container {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Links {
    all: Vec<Container>,
    by_id: HashMap<String, usize>,
}

impl Links {
    fn new_container(&mut self) -> usize {
        self.all.push(Container::default());
        self.all.len() - 1
    }

    fn container(&mut self, id: &str) -> usize {
        if let Some(&c) = self.by_id.get(id) {
            return c;
        }
        let c = self.new_container();
        self.by_id.insert(id.to_string(), c);
        c
    }

    /// Whether `from` is `target` or below it. Past [`MAX_WALK`] levels the answer is yes,
    /// so that no link is added: a chain that long becomes a thread of its own rather than
    /// costing a walk of its whole length for each of its messages.
    fn under(&self, from: usize, target: usize) -> bool {
        let mut at = Some(from);
        for _ in 0..MAX_WALK {
            let Some(c) = at else { return false };
            if c == target {
                return true;
            }
            at = self.all[c].parent;
        }
        at.is_some()
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.all[child].parent.take() {
            self.all[p].children.retain(|&c| c != child);
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.all[child].parent = Some(parent);
        self.all[parent].children.push(child);
    }

    /// Moves whatever sits deeper than [`MAX_DEPTH`] up to that depth.
    fn bound_depth(&mut self, roots: &[usize]) {
        let mut queue: VecDeque<(usize, usize)> = roots.iter().map(|&r| (r, 0)).collect();
        while let Some((c, depth)) = queue.pop_front() {
            for k in self.all[c].children.clone() {
                match self.all[c].parent {
                    Some(up) if depth >= MAX_DEPTH => {
                        self.unlink(k);
                        self.link(up, k);
                        queue.push_back((k, depth));
                    }
                    _ => queue.push_back((k, depth + 1)),
                }
            }
        }
    }

    fn tree(&self, c: usize) -> Node {
        Node {
            msg: self.all[c].msg,
            children: self.all[c].children.iter().map(|&k| self.tree(k)).collect(),
        }
    }
}

/// REFERENCES (RFC 5256 §2.2).
pub fn references(msgs: &[Message]) -> Vec<Thread> {
    let mut links = Links {
        all: Vec::new(),
        by_id: HashMap::new(),
    };
    for (i, m) in msgs.iter().enumerate() {
        // 1A: the message's container (a duplicate or missing Message-ID gets one of its own).
        let own = match &m.message_id {
            Some(id)
                if links
                    .by_id
                    .get(id)
                    .is_none_or(|&c| links.all[c].msg.is_none()) =>
            {
                links.container(id)
            }
            _ => links.new_container(),
        };
        links.all[own].msg = Some(i);
        // 1B: each reference the parent of the next, unless already linked or looping.
        let chain: Vec<usize> = m.references.iter().map(|r| links.container(r)).collect();
        for pair in chain.windows(2) {
            let (parent, child) = (pair[0], pair[1]);
            if links.all[child].parent.is_none() && !links.under(parent, child) {
                links.link(parent, child);
            }
        }
        // 1C: the last reference is the parent; with none, the message is a root.
        links.unlink(own);
        if let Some(&parent) = chain.last()
            && !links.under(parent, own)
        {
            links.link(parent, own);
        }
    }
    // 2-4: the roots, bounded in depth, as trees, pruned.
    let roots: Vec<usize> = (0..links.all.len())
        .filter(|&c| links.all[c].parent.is_none())
        .collect();
    links.bound_depth(&roots);
    let mut roots = prune(roots.iter().map(|&c| links.tree(c)).collect(), true);
    sort(&mut roots, msgs);
    // 5: roots with the same base subject merged.
    let subject = |n: &Node| -> Option<usize> { n.msg.or_else(|| n.children.first()?.msg) };
    let bases: Vec<Option<String>> = roots
        .iter()
        .map(|n| subject(n).map(|i| base_subject(&msgs[i].subject)))
        .map(|b| b.filter(|b| !b.is_empty()))
        .collect();
    let reply = |n: &Node| n.msg.is_some_and(|i| is_reply(&msgs[i].subject));
    let mut table: HashMap<&str, usize> = HashMap::new();
    for (i, base) in bases.iter().enumerate() {
        let Some(base) = base else { continue };
        match table.get(base.as_str()) {
            None => {
                table.insert(base, i);
            }
            Some(&t) => {
                let (current, held) = (&roots[i], &roots[t]);
                if held.msg.is_some() && (current.msg.is_none() || (reply(held) && !reply(current)))
                {
                    table.insert(base, i);
                }
            }
        }
    }
    let mut slots: Vec<Option<Node>> = roots.into_iter().map(Some).collect();
    for (i, base) in bases.iter().enumerate() {
        let Some(&t) = base.as_deref().and_then(|b| table.get(b)) else {
            continue;
        };
        if t == i {
            continue;
        }
        let (Some(current), Some(mut held)) = (slots[i].take(), slots[t].take()) else {
            continue;
        };
        let merged = match (current.msg.is_none(), held.msg.is_none()) {
            (true, true) => {
                held.children.extend(current.children);
                held
            }
            (false, true) => {
                held.children.push(current);
                held
            }
            _ if reply(&current) && !reply(&held) => {
                held.children.push(current);
                held
            }
            _ => Node {
                msg: None,
                children: vec![held, current],
            },
        };
        slots[t] = Some(merged);
    }
    // 6: placeholders merged into others give way to their children; everything by date.
    let mut roots = prune(slots.into_iter().flatten().collect(), true);
    sort(&mut roots, msgs);
    roots.iter().filter_map(|n| to_thread(n, msgs)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(date: i64, subject: &str, id: &str, refs: &[&str]) -> Message {
        Message {
            id: 0,
            date,
            subject: subject.into(),
            message_id: (!id.is_empty()).then(|| id.to_string()),
            references: refs.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// The THREAD response text of `threads`.
    fn text(mut msgs: Vec<Message>, algorithm: fn(&[Message]) -> Vec<Thread>) -> String {
        for (i, m) in msgs.iter_mut().enumerate() {
            m.id = i as u32 + 1;
        }
        algorithm(&msgs).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn ordered_subject_groups_by_base_subject() {
        let msgs = vec![
            msg(10, "lunch", "", &[]),
            msg(30, "Re: lunch", "", &[]),
            msg(5, "budget", "", &[]),
            msg(20, "Re: lunch", "", &[]),
            msg(40, "Fwd: budget", "", &[]),
        ];
        assert_eq!(text(msgs, ordered_subject), "(3 5)(1 (4)(2))");
    }

    #[test]
    fn references_follow_replies() {
        let chain = vec![
            msg(1, "plan", "a", &[]),
            msg(2, "Re: plan", "b", &["a"]),
            msg(3, "Re: plan", "c", &["a", "b"]),
        ];
        assert_eq!(text(chain, references), "(1 2 3)");
        let branches = vec![
            msg(1, "plan", "a", &[]),
            msg(2, "Re: plan", "b", &["a"]),
            msg(3, "Re: plan", "c", &["a"]),
            msg(4, "Re: plan", "d", &["a", "b"]),
        ];
        assert_eq!(text(branches, references), "(1 (2 4)(3))");
    }

    #[test]
    fn a_missing_parent_leaves_its_replies_together() {
        // Both reply to a message not in the set: a placeholder holds them at the root.
        let msgs = vec![
            msg(1, "Re: gone", "b", &["x"]),
            msg(2, "Re: gone", "c", &["x"]),
            msg(0, "other", "d", &[]),
        ];
        assert_eq!(text(msgs, references), "(3)((1)(2))");
    }

    #[test]
    fn roots_merge_by_subject() {
        // A reply without references joins the original as its child.
        let msgs = vec![msg(1, "hello", "a", &[]), msg(2, "Re: hello", "b", &[])];
        assert_eq!(text(msgs, references), "(1 2)");
        // Two originals with one subject become siblings under a placeholder.
        let msgs = vec![msg(1, "hello", "a", &[]), msg(2, "hello", "b", &[])];
        assert_eq!(text(msgs, references), "((1)(2))");
        // A reply found first still hangs under the original.
        let msgs = vec![msg(1, "Re: hello", "b", &[]), msg(2, "hello", "a", &[])];
        assert_eq!(text(msgs, references), "(2 1)");
    }

    #[test]
    fn loops_duplicates_and_missing_ids_are_survived() {
        let msgs = vec![
            msg(1, "a", "x", &["y"]),
            msg(2, "b", "y", &["x"]),
            msg(3, "c", "x", &[]),
            msg(4, "d", "", &["x"]),
        ];
        let out = text(msgs, references);
        for id in ["1", "2", "3", "4"] {
            assert_eq!(out.matches(id).count(), 1, "{id} once in {out}");
        }
    }

    #[test]
    fn a_deep_chain_is_bounded() {
        let n = 5_000;
        let msgs: Vec<Message> = (0..n)
            .map(|i| {
                let refs: Vec<String> = if i == 0 {
                    Vec::new()
                } else {
                    vec![format!("m{}", i - 1)]
                };
                Message {
                    id: 0,
                    date: i,
                    subject: "deep".into(),
                    message_id: Some(format!("m{i}")),
                    references: refs,
                }
            })
            .collect();
        // Every other message also gets a sibling, so the replies nest instead of chaining.
        let mut all = msgs.clone();
        for i in 1..n {
            all.push(msg(i, "deep", &format!("s{i}"), &[&format!("m{}", i - 1)]));
        }
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let out = text(all, references);
                let mut depth = 0usize;
                let mut deepest = 0;
                for c in out.chars() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    deepest = deepest.max(depth);
                }
                assert!(deepest <= MAX_DEPTH + 4, "nested {deepest} deep");
                let numbers: Vec<&str> = out
                    .split(|c: char| !c.is_ascii_digit())
                    .filter(|w| !w.is_empty())
                    .collect();
                let distinct: std::collections::BTreeSet<&&str> = numbers.iter().collect();
                let messages = 2 * n as usize - 1;
                assert_eq!((numbers.len(), distinct.len()), (messages, messages));
            })
            .expect("thread")
            .join()
            .expect("no overflow");
    }

    #[test]
    fn replies_are_recognised() {
        for s in [
            "Re: x",
            "RE:x",
            "Fwd: x",
            "fw: x",
            "[list] Re: x",
            "Re[2]: x",
            "x (fwd)",
        ] {
            assert!(is_reply(s), "{s}");
        }
        for s in ["x", "Regarding x", "[list] x", "re x"] {
            assert!(!is_reply(s), "{s}");
        }
    }
}

//! Every key the store holds, built here and nowhere else, with FoundationDB's tuple encoding
//! under one root prefix. Integers in tuples sort numerically, so ranges follow id order.

use std::sync::LazyLock;

use foundationdb_tuple::{Subspace, TuplePack};

/// Everything Tern writes lives under `("tern",)`.
static ROOT: LazyLock<Subspace> = LazyLock::new(|| Subspace::all().subspace(&"tern"));

fn key<T: TuplePack>(t: &T) -> Vec<u8> {
    ROOT.pack(t)
}

/// `[begin, end)` covering every key whose tuple starts with `t` (not `t` itself).
fn children<T: TuplePack>(t: &T) -> (Vec<u8>, Vec<u8>) {
    ROOT.subspace(t).range()
}

/// A key in readable form for logs and errors.
pub fn printable(key: &[u8]) -> String {
    key.iter()
        .map(|b| match b {
            0x20..=0x7e if *b != b'\\' => (*b as char).to_string(),
            _ => format!("\\x{b:02x}"),
        })
        .collect()
}

/// The key ranges `atomic_add` may touch: mailbox change and message counters, queue entry
/// counts, quota usage, blob reference counts, the collector's markers and backlog, rate-limit
/// counters, versions of settings nodes cache (`version`), and the test space's counters.
/// [`crate::Tx::atomic_add`] refuses any
/// other key, which lets a backend that stores adds apart from values (postgres) know which
/// keys can hold them without reading.
pub fn counters() -> [(Vec<u8>, Vec<u8>); 10] {
    [
        children(&("mbox_change",)),
        children(&("queue_count",)),
        children(&("mbox_count",)),
        children(&("usage",)),
        children(&("blob", "refs")),
        children(&("blob", "unref")),
        children(&("blob", "backlog")),
        children(&("scratch", "counters")),
        children(&("limit",)),
        children(&("version",)),
    ]
}

/// Whether `key` is in a counter range (see [`counters`]).
pub fn is_counter(key: &[u8]) -> bool {
    counters()
        .iter()
        .any(|(b, e)| key >= b.as_slice() && key < e.as_slice())
}

/// The key ranges whose changes can be watched: mailbox change counters (IMAP IDLE) and the
/// test space. Backends that announce changes to other processes announce only these.
pub fn watchable() -> [(Vec<u8>, Vec<u8>); 2] {
    [children(&("mbox_change",)), children(&("scratch",))]
}

/// Whether `[begin, end)` overlaps a watchable range.
pub fn overlaps_watchable(begin: &[u8], end: &[u8]) -> bool {
    watchable()
        .iter()
        .any(|(b, e)| begin < e.as_slice() && b.as_slice() < end)
}

/// Keys reserved for the conformance suite and benchmarks.
pub mod scratch {
    use super::*;

    /// One test key.
    pub fn item(space: &str, i: u64) -> Vec<u8> {
        key(&("scratch", space, i))
    }

    /// A test key `atomic_add` may touch (see [`super::counters`]).
    pub fn counter(space: &str, i: u64) -> Vec<u8> {
        key(&("scratch", "counters", space, i))
    }

    /// Every key of a test space.
    pub fn all(space: &str) -> (Vec<u8>, Vec<u8>) {
        children(&("scratch", space))
    }

    /// Every scratch key of every space.
    pub fn everything() -> (Vec<u8>, Vec<u8>) {
        children(&("scratch",))
    }

    /// A key with a byte payload (for size limits).
    pub fn sized(space: &str, pad: &[u8]) -> Vec<u8> {
        key(&("scratch", space, pad))
    }
}

/// Content-addressed message bodies.
pub mod blob {
    use super::*;

    /// The blob's metadata (size, chunk count), present once linked.
    pub fn meta(hash: &[u8; 32]) -> Vec<u8> {
        key(&("blob", "meta", &hash[..]))
    }

    /// Chunk `i` of a blob.
    pub fn chunk(hash: &[u8; 32], i: u32) -> Vec<u8> {
        key(&("blob", "chunk", &hash[..], i))
    }

    /// Every chunk of a blob.
    pub fn chunks(hash: &[u8; 32]) -> (Vec<u8>, Vec<u8>) {
        children(&("blob", "chunk", &hash[..]))
    }

    /// Every blob key (for wiping a test cluster).
    pub fn everything() -> (Vec<u8>, Vec<u8>) {
        children(&("blob",))
    }

    /// The parsed summary (envelope, structure) of a blob, shared by every copy.
    pub fn summary(hash: &[u8; 32]) -> Vec<u8> {
        key(&("blob", "summary", &hash[..]))
    }

    /// Reference count (atomic counter) of a linked blob.
    pub fn refs(hash: &[u8; 32]) -> Vec<u8> {
        key(&("blob", "refs", &hash[..]))
    }

    /// Marks chunks written but not yet linked (value: unix seconds of the upload).
    pub fn pending(hash: &[u8; 32]) -> Vec<u8> {
        key(&("blob", "pending", &hash[..]))
    }

    /// Every pending upload.
    pub fn all_pending() -> (Vec<u8>, Vec<u8>) {
        children(&("blob", "pending"))
    }

    /// A blob that lost references, waiting for the collector (a counter of the drops).
    pub fn unreferenced(hash: &[u8; 32]) -> Vec<u8> {
        key(&("blob", "unref", &hash[..]))
    }

    /// One shard of the count of dropped references the collector has not examined.
    pub fn backlog(shard: u8) -> Vec<u8> {
        key(&("blob", "backlog", i64::from(shard)))
    }

    /// Every unreferenced blob.
    pub fn all_unreferenced() -> (Vec<u8>, Vec<u8>) {
        children(&("blob", "unref"))
    }

    /// The hash in a `pending` or `unref` key.
    pub fn hash_of(k: &[u8]) -> Option<[u8; 32]> {
        let (_, _, hash): (String, String, Vec<u8>) = ROOT.unpack(k).ok()?;
        hash.try_into().ok()
    }
}

/// Id allocation counters.
pub fn next_id(kind: &str) -> Vec<u8> {
    key(&("ids", kind))
}

/// Domains, accounts and addresses.
pub mod directory {
    use super::*;

    /// A domain's record.
    pub fn domain(name: &str) -> Vec<u8> {
        key(&("domain", name))
    }

    /// Every domain.
    pub fn domains() -> (Vec<u8>, Vec<u8>) {
        children(&("domain",))
    }

    /// The owner of an address (account or alias), by domain and normalised local part.
    pub fn address(domain: &str, local: &str) -> Vec<u8> {
        key(&("addr", domain, local))
    }

    /// Every address of a domain.
    pub fn addresses(domain: &str) -> (Vec<u8>, Vec<u8>) {
        children(&("addr", domain))
    }

    /// A domain's DKIM signing key.
    pub fn dkim(domain: &str) -> Vec<u8> {
        key(&("dkim", domain))
    }

    /// A domain's catch-all target.
    pub fn catch_all(domain: &str) -> Vec<u8> {
        key(&("catchall", domain))
    }

    /// An account's record.
    pub fn account(id: u64) -> Vec<u8> {
        key(&("account", id))
    }

    /// Every account.
    pub fn accounts() -> (Vec<u8>, Vec<u8>) {
        children(&("account",))
    }

    /// Login index: local part → (domain, account), for logins by local part alone.
    pub fn login(local: &str, domain: &str) -> Vec<u8> {
        key(&("login", local, domain))
    }

    /// Every account with this local part, across domains.
    pub fn logins(local: &str) -> (Vec<u8>, Vec<u8>) {
        children(&("login", local))
    }

    /// An alias's targets.
    pub fn alias(domain: &str, local: &str) -> Vec<u8> {
        key(&("alias", domain, local))
    }

    /// Every alias of a domain.
    pub fn aliases(domain: &str) -> (Vec<u8>, Vec<u8>) {
        children(&("alias", domain))
    }

    /// Every alias.
    pub fn all_aliases() -> (Vec<u8>, Vec<u8>) {
        children(&("alias",))
    }

    /// An account's forward.
    pub fn forward(account: u64) -> Vec<u8> {
        key(&("forward", account))
    }

    /// Quota usage counter of an account (`bytes` or `messages`).
    pub fn usage(account: u64, what: &str) -> Vec<u8> {
        key(&("usage", account, what))
    }

    /// Every usage counter of an account.
    pub fn usages(account: u64) -> (Vec<u8>, Vec<u8>) {
        children(&("usage", account))
    }

    /// An admin API token, by the BLAKE3 hash of its secret.
    pub fn admin_token(hash: &[u8; 32]) -> Vec<u8> {
        key(&("admin_token", &hash[..]))
    }

    /// Every admin token.
    pub fn admin_tokens() -> (Vec<u8>, Vec<u8>) {
        children(&("admin_token",))
    }
}

/// Message tracking: events by time, and an index by message id, queue id and address.
pub mod tracking {
    use super::*;

    /// Event `uid` at `at` (Unix microseconds).
    pub fn event(at: i64, uid: u64) -> Vec<u8> {
        key(&("track", "ev", at, uid))
    }

    /// The time and uid in an event key.
    pub fn event_parts(k: &[u8]) -> Option<(i64, u64)> {
        let (_, _, at, uid): (String, String, i64, u64) = ROOT.unpack(k).ok()?;
        Some((at, uid))
    }

    /// Events before `at`.
    pub fn events_before(at: i64) -> (Vec<u8>, Vec<u8>) {
        (children(&("track", "ev")).0, key(&("track", "ev", at)))
    }

    /// The index entry of event `uid` under `lookup` (lowercase).
    pub fn index(lookup: &str, at: i64, uid: u64) -> Vec<u8> {
        key(&("track", "ix", lookup, at, uid))
    }

    /// Index entries under `lookup` from `since` on.
    pub fn indexed(lookup: &str, since: i64) -> (Vec<u8>, Vec<u8>) {
        (
            key(&("track", "ix", lookup, since)),
            children(&("track", "ix", lookup)).1,
        )
    }

    /// The time and uid in an index key.
    pub fn index_parts(k: &[u8]) -> Option<(i64, u64)> {
        let (_, _, _, at, uid): (String, String, String, i64, u64) = ROOT.unpack(k).ok()?;
        Some((at, uid))
    }
}

mod policy;
pub use policy::{dmarc_reports, greylist, limits, spam_lists, spam_rules, spam_thresholds};

/// Postmaster notices: one record per condition.
pub mod notices {
    use super::*;

    /// The notice about condition `id`.
    pub fn notice(id: &str) -> Vec<u8> {
        key(&("notice", id))
    }

    /// Every notice.
    pub fn all() -> (Vec<u8>, Vec<u8>) {
        children(&("notice",))
    }
}

/// The outbound queue, sharded by destination domain.
pub mod queue {
    use super::*;

    /// A queue entry (one message for one destination domain).
    pub fn entry(id: &str) -> Vec<u8> {
        key(&("queue", "entry", id))
    }

    /// Every queue entry.
    pub fn entries() -> (Vec<u8>, Vec<u8>) {
        children(&("queue", "entry"))
    }

    /// Due index: entries of a shard by next attempt time (Unix seconds).
    pub fn due(shard: u16, next_attempt: i64, id: &str) -> Vec<u8> {
        key(&("queue", "due", shard, next_attempt, id))
    }

    /// The shard, time and id in a `due` key.
    pub fn due_parts(k: &[u8]) -> Option<(u16, i64, String)> {
        let (_, _, shard, at, id): (String, String, u16, i64, String) = ROOT.unpack(k).ok()?;
        Some((shard, at, id))
    }

    /// Held entries (kept out of the due index until released).
    pub fn held(id: &str) -> Vec<u8> {
        key(&("queue", "held", id))
    }

    /// Every held entry.
    pub fn helds() -> (Vec<u8>, Vec<u8>) {
        children(&("queue", "held"))
    }

    /// The id in a `held` key.
    pub fn held_id(k: &[u8]) -> Option<String> {
        let (_, _, id): (String, String, String) = ROOT.unpack(k).ok()?;
        Some(id)
    }

    /// Delivery state of one destination (failures, suspension).
    pub fn destination(domain: &str) -> Vec<u8> {
        key(&("queue", "dest", domain))
    }

    /// Every destination's state.
    pub fn destinations() -> (Vec<u8>, Vec<u8>) {
        children(&("queue", "dest"))
    }

    /// The owner epoch of a shard (fencing token: the node that wrote it owns the shard).
    pub fn owner(shard: u16) -> Vec<u8> {
        key(&("queue", "owner", shard))
    }

    /// Every shard's owner.
    pub fn owners() -> (Vec<u8>, Vec<u8>) {
        children(&("queue", "owner"))
    }

    /// The shard of an `owner` key.
    pub fn owner_shard(k: &[u8]) -> Option<u16> {
        let (_, _, shard): (String, String, u16) = ROOT.unpack(k).ok()?;
        Some(shard)
    }

    /// The shard count the queue was laid out with.
    pub fn layout() -> Vec<u8> {
        key(&("queue", "layout"))
    }

    /// Set once the per-shard counters and age index cover every entry.
    pub fn counted() -> Vec<u8> {
        key(&("queue", "counted"))
    }

    /// Entries of a shard in a status (`pending`, `deferred`, `held`): a counter.
    pub fn count(shard: u16, status: &str) -> Vec<u8> {
        key(&("queue_count", shard, status))
    }

    /// Age index: entries of a shard in a status by creation time, oldest first.
    pub fn age(shard: u16, status: &str, created: i64, id: &str) -> Vec<u8> {
        key(&("queue", "age", shard, status, created, id))
    }

    /// The age index of a shard and status.
    pub fn ages(shard: u16, status: &str) -> (Vec<u8>, Vec<u8>) {
        children(&("queue", "age", shard, status))
    }

    /// The creation time in an `age` key.
    pub fn age_created(k: &[u8]) -> Option<i64> {
        let (_, _, _, _, created, _): (String, String, u16, String, i64, String) =
            ROOT.unpack(k).ok()?;
        Some(created)
    }

    /// Entries of a shard due at or before `until`.
    pub fn due_until(shard: u16, until: i64) -> (Vec<u8>, Vec<u8>) {
        (
            children(&("queue", "due", shard)).0,
            key(&("queue", "due", shard, until.saturating_add(1))),
        )
    }
}

/// A lease lock on a mailbox for one protocol (`pop3`).
pub fn mailbox_lock(kind: &str, mailbox: u64) -> Vec<u8> {
    key(&("lock", kind, mailbox))
}

/// Every `kind` lock.
pub fn mailbox_locks(kind: &str) -> (Vec<u8>, Vec<u8>) {
    children(&("lock", kind))
}

/// The mailbox id of a lock key.
pub fn locked_mailbox(k: &[u8]) -> Option<u64> {
    let (_, _, mailbox): (String, String, u64) = ROOT.unpack(k).ok()?;
    Some(mailbox)
}

/// Mailboxes and messages.
pub mod mail {
    use super::*;

    /// A mailbox's record.
    pub fn mailbox(account: u64, mailbox: u64) -> Vec<u8> {
        key(&("mailbox", account, mailbox))
    }

    /// Every mailbox of an account.
    pub fn mailboxes(account: u64) -> (Vec<u8>, Vec<u8>) {
        children(&("mailbox", account))
    }

    /// Mailbox id by name.
    pub fn mailbox_name(account: u64, name: &str) -> Vec<u8> {
        key(&("mailbox_name", account, name))
    }

    /// Every mailbox name of an account.
    pub fn mailbox_names(account: u64) -> (Vec<u8>, Vec<u8>) {
        children(&("mailbox_name", account))
    }

    /// A name on an account's IMAP subscription list (RFC 3501 §6.3.6: a list of names, kept
    /// whether or not a mailbox of that name exists).
    pub fn subscription(account: u64, name: &str) -> Vec<u8> {
        key(&("subscription", account, name))
    }

    /// An account's whole subscription list.
    pub fn subscriptions(account: u64) -> (Vec<u8>, Vec<u8>) {
        children(&("subscription", account))
    }

    /// The name of a subscription key.
    pub fn subscribed_name(k: &[u8]) -> Option<String> {
        let (_, _, name): (String, u64, String) = ROOT.unpack(k).ok()?;
        Some(name)
    }

    /// Set once an account's subscription list is kept under [`subscription`] (before, each
    /// mailbox record carried a flag, and the list is built from those once).
    pub fn subscriptions_listed(account: u64) -> Vec<u8> {
        key(&("subscriptions_listed", account))
    }

    /// The first UID of a mailbox no session has yet seen as `\Recent` (RFC 3501 §2.3.2).
    pub fn recent(mailbox: u64) -> Vec<u8> {
        key(&("mbox_recent", mailbox))
    }

    /// UIDNEXT and HIGHESTMODSEQ of a mailbox (read and written by every change).
    pub fn sequence(mailbox: u64) -> Vec<u8> {
        key(&("mbox_seq", mailbox))
    }

    /// A mailbox counter (`exists`, `unseen`, `bytes`), updated atomically.
    pub fn counter(mailbox: u64, what: &str) -> Vec<u8> {
        key(&("mbox_count", mailbox, what))
    }

    /// Every counter of a mailbox.
    pub fn counters(mailbox: u64) -> (Vec<u8>, Vec<u8>) {
        children(&("mbox_count", mailbox))
    }

    /// Bumped by every change to a mailbox; sessions on any node watch it.
    pub fn change(mailbox: u64) -> Vec<u8> {
        key(&("mbox_change", mailbox))
    }

    /// Bumped when an account's mailboxes are created, deleted or renamed, or its
    /// subscriptions change; sessions that asked for NOTIFY's MailboxName or
    /// SubscriptionChange watch it.
    pub fn names_change(account: u64) -> Vec<u8> {
        key(&("mbox_change", "names", account))
    }

    /// A message by UID.
    pub fn message(mailbox: u64, uid: u32) -> Vec<u8> {
        key(&("msg", mailbox, uid))
    }

    /// Every message of a mailbox, in UID order.
    pub fn messages(mailbox: u64) -> (Vec<u8>, Vec<u8>) {
        children(&("msg", mailbox))
    }

    /// Messages with UID ≥ `from`.
    pub fn messages_from(mailbox: u64, from: u32) -> (Vec<u8>, Vec<u8>) {
        (message(mailbox, from), children(&("msg", mailbox)).1)
    }

    /// Index of the last change (MODSEQ) of each message: `(mailbox, modseq) → uid`.
    pub fn modseq(mailbox: u64, modseq: u64) -> Vec<u8> {
        key(&("msg_modseq", mailbox, modseq))
    }

    /// Every change index entry of a mailbox above `modseq`.
    pub fn modseqs_after(mailbox: u64, modseq: u64) -> (Vec<u8>, Vec<u8>) {
        (
            self::modseq(mailbox, modseq.saturating_add(1)),
            children(&("msg_modseq", mailbox)).1,
        )
    }

    /// Every change index entry of a mailbox.
    pub fn modseqs(mailbox: u64) -> (Vec<u8>, Vec<u8>) {
        children(&("msg_modseq", mailbox))
    }

    /// Expunged UIDs by the MODSEQ of their expunge (for QRESYNC's VANISHED).
    pub fn expunged(mailbox: u64, modseq: u64) -> Vec<u8> {
        key(&("expunged", mailbox, modseq))
    }

    /// Every expunge record of a mailbox.
    pub fn expunged_all(mailbox: u64) -> (Vec<u8>, Vec<u8>) {
        children(&("expunged", mailbox))
    }

    /// Unpacks the trailing integer (uid or modseq) of a message or index key.
    pub fn last_number(k: &[u8]) -> Option<u64> {
        let (_, _, n): (String, u64, u64) = ROOT.unpack(k).ok()?;
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_sort_by_uid() {
        assert!(mail::message(1, 9) < mail::message(1, 10));
        assert!(mail::message(1, 300) < mail::message(2, 1));
        let (b, e) = mail::messages(1);
        assert!(b < mail::message(1, 0) && mail::message(1, u32::MAX) < e);
        assert_eq!(mail::last_number(&mail::message(7, 42)), Some(42));
    }

    #[test]
    fn blob_hash_round_trips() {
        let h = [7u8; 32];
        assert_eq!(blob::hash_of(&blob::pending(&h)), Some(h));
    }
}

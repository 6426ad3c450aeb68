//! Splits client bytes into IMAP commands with `imap-codec`'s fragmentizer and decoder, and
//! enforces the caps before anything large is kept: a line longer than `max_line` or a literal
//! longer than `max_literal` is refused (`[TOOBIG]`), a synchronising literal that fits gets a
//! continuation request, one that does not is refused before the client sends it, and a
//! non-synchronising one that does not fit is read past without being kept. Literals are also
//! kept only when the node's [`InputBudget`] has room for them. The caps may change between
//! commands (small before login, larger after).

use std::sync::Arc;

use super::{
    catenate,
    extensions::{self, Extras},
    feed::{Fed, Feeder},
};
use imap_codec::{
    AuthenticateDataCodec, CommandCodec, IdleDoneCodec,
    decode::Decoder,
    fragmentizer::{FragmentInfo, Fragmentizer, LiteralAnnouncement},
    imap_types::{
        IntoStatic,
        auth::AuthenticateData,
        command::Command,
        core::{LiteralMode, Tag},
    },
};

/// The caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest command line (without literals).
    pub max_line: u32,
    /// Longest literal (the APPEND size limit).
    pub max_literal: u32,
}

/// Memory the node's connections share for buffered client input: a literal is kept only when
/// its bytes can be reserved, and they are given back once its command has been handled.
pub trait InputBudget: Send + Sync {
    /// Reserves `bytes`; `false` when the node has no room for them.
    fn try_reserve(&self, bytes: u64) -> bool;
    /// Gives `bytes` back.
    fn release(&self, bytes: u64);
}

/// What the connection should do next.
#[derive(Debug)]
pub enum Event {
    /// Read more bytes.
    NeedMore,
    /// A synchronising literal fits: send `+ ` and read on.
    Continue,
    /// A complete command, with the syntax cut out for `imap-codec` ([`extensions`]).
    Command(Box<Command<'static>>, Box<Extras>),
    /// AUTHENTICATE response data (in [`Mode::Authenticate`]).
    AuthData(AuthenticateData<'static>),
    /// `DONE` (in [`Mode::Idle`]).
    IdleDone,
    /// A refused message: its tag when one could be read, what was wrong, and whether the
    /// refusal is about size.
    Refused {
        /// The tag, if readable.
        tag: Option<Tag<'static>>,
        /// Why.
        why: Refusal,
    },
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A synchronising literal over the cap (not sent by the client): `NO [TOOBIG]`.
    LiteralTooBig(u32),
    /// A non-synchronising literal or line over the cap, read and dropped: `BAD [TOOBIG]`.
    TooLong,
    /// A literal the node has no memory for now (refused before it was sent when
    /// synchronising, read and dropped otherwise): `NO [UNAVAILABLE]`.
    Busy,
    /// Unparseable: `BAD`, with the text saying so.
    Syntax,
    /// Extended syntax this server does not support: `BAD` with the reason.
    Unsupported(String),
}

/// What the next message is expected to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A tagged command.
    Command,
    /// A SASL response line.
    Authenticate,
    /// `DONE` ending IDLE.
    Idle,
}

/// The framing state of one connection.
pub struct Reader {
    frag: Fragmentizer,
    feed: Feeder,
    /// The fragments of the current message (a MULTIAPPEND is split along them).
    fragments: Vec<FragmentInfo>,
    limits: Limits,
    /// The refusal of the message being dropped, answered when it ends.
    dropped: Option<(Option<Tag<'static>>, Refusal)>,
    budget: Option<Arc<dyn InputBudget>>,
    /// Bytes reserved for the current (or just returned) message's literals.
    reserved: u64,
    /// What the next message is.
    pub mode: Mode,
}

impl Reader {
    /// A reader with these caps and no memory budget.
    pub fn new(limits: Limits) -> Self {
        Self {
            frag: Fragmentizer::new(limits.max_literal.saturating_add(limits.max_line)),
            feed: Feeder::default(),
            fragments: Vec::new(),
            limits,
            dropped: None,
            budget: None,
            reserved: 0,
            mode: Mode::Command,
        }
    }

    /// A reader whose literals take their memory from `budget`.
    pub fn with_budget(limits: Limits, budget: Arc<dyn InputBudget>) -> Self {
        Self {
            budget: Some(budget),
            ..Self::new(limits)
        }
    }

    /// The caps in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Changes the caps, from the next message on (call between commands).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        if self.feed.between_messages() && self.fragments.is_empty() {
            self.frag = Fragmentizer::new(limits.max_literal.saturating_add(limits.max_line));
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.feed.push(bytes);
    }

    /// Bytes received and not yet framed or dropped.
    pub fn buffered(&self) -> usize {
        self.feed.buffered()
    }

    /// Whether nothing of a next command has arrived yet.
    pub fn between_commands(&self) -> bool {
        self.feed.between_messages()
            && self.feed.buffered() == 0
            && self.fragments.is_empty()
            && self.dropped.is_none()
    }

    /// Takes the bytes received after the last command and not yet framed (after COMPRESS,
    /// they are compressed input), leaving the reader as new.
    pub fn take_unframed(&mut self) -> Vec<u8> {
        let rest = self.feed.take();
        self.reset();
        rest
    }

    /// Drops every byte not yet framed (after STARTTLS, where they must not be trusted).
    pub fn reset(&mut self) {
        self.frag = Fragmentizer::new(self.limits.max_literal.saturating_add(self.limits.max_line));
        self.feed.clear();
        self.fragments.clear();
        self.dropped = None;
        self.release();
    }

    fn release(&mut self) {
        if let Some(budget) = &self.budget
            && self.reserved > 0
        {
            budget.release(self.reserved);
        }
        self.reserved = 0;
    }

    fn reserve(&mut self, bytes: u32) -> bool {
        let Some(budget) = &self.budget else {
            return true;
        };
        let ok = budget.try_reserve(u64::from(bytes));
        if ok {
            self.reserved += u64::from(bytes);
        }
        ok
    }

    /// Forgets the current message and starts dropping the rest of it; answered with `why`
    /// when it ends.
    fn start_dropping(&mut self, why: Refusal) {
        let tag = self.frag.decode_tag().map(IntoStatic::into_static);
        self.frag.skip_message();
        self.fragments.clear();
        self.release();
        self.dropped = Some((tag, why));
    }

    /// A literal announcement that cannot be kept: a synchronising one is refused now (the
    /// client has not sent it), a non-synchronising one is dropped as it arrives.
    fn refuse_literal(&mut self, mode: LiteralMode, length: u32, why: Refusal) -> Option<Event> {
        match mode {
            LiteralMode::Sync => {
                let tag = self.frag.decode_tag().map(IntoStatic::into_static);
                self.frag.skip_message();
                self.fragments.clear();
                self.release();
                Some(Event::Refused { tag, why })
            }
            LiteralMode::NonSync => {
                let why = if why == Refusal::Busy {
                    why
                } else {
                    Refusal::TooLong
                };
                self.start_dropping(why);
                self.feed.drop_literal(length);
                None
            }
        }
    }

    /// Advances until a message is complete, a literal needs an answer, or bytes run out.
    pub fn next_event(&mut self) -> Event {
        // The previous message's command has been handled: its literals' memory is free.
        if self.fragments.is_empty() && self.dropped.is_none() {
            self.release();
        }
        loop {
            if let Some(info) = self.frag.progress() {
                self.fragments.push(info);
                if let FragmentInfo::Line {
                    announcement: Some(LiteralAnnouncement { mode, length }),
                    ..
                } = info
                {
                    let refused = if length > self.limits.max_literal {
                        self.refuse_literal(mode, length, Refusal::LiteralTooBig(length))
                    } else if !self.reserve(length) {
                        self.refuse_literal(mode, length, Refusal::Busy)
                    } else {
                        self.feed.expect_literal(length);
                        if mode == LiteralMode::Sync {
                            return Event::Continue;
                        }
                        None
                    };
                    if let Some(event) = refused {
                        return event;
                    }
                    continue;
                }
                if self.frag.is_message_complete() {
                    return self.decode();
                }
                continue;
            }
            match self.feed.next(self.limits.max_line as usize) {
                Fed::Some(bytes) => self.frag.enqueue_bytes(&bytes),
                Fed::Empty => return Event::NeedMore,
                Fed::LineTooLong => self.start_dropping(Refusal::TooLong),
                Fed::DroppedMessageEnded => {
                    let (tag, why) = self.dropped.take().unwrap_or((None, Refusal::TooLong));
                    return Event::Refused { tag, why };
                }
            }
        }
    }

    fn decode(&mut self) -> Event {
        let fragments = std::mem::take(&mut self.fragments);
        let too_long = self.frag.is_max_message_size_exceeded();
        let tag = || self.frag.decode_tag().map(IntoStatic::into_static);
        if too_long {
            return Event::Refused {
                tag: tag(),
                why: Refusal::TooLong,
            };
        }
        match self.mode {
            Mode::Command => {
                if self.frag.is_message_poisoned() {
                    return Event::Refused {
                        tag: tag(),
                        why: Refusal::Syntax,
                    };
                }
                let bytes = self.frag.message_bytes();
                let literals = fragments
                    .iter()
                    .filter(|f| matches!(f, FragmentInfo::Literal { .. }))
                    .count();
                let mut extras = Extras::default();
                let first_line = fragments
                    .first()
                    .and_then(|f| bytes.get(f.range()))
                    .unwrap_or_default();
                let utf8 = is_append(bytes)
                    .then(|| catenate::unwrap_utf8(bytes, &fragments))
                    .flatten();
                let first = if let Some(plain) = utf8 {
                    extras.utf8_append = true;
                    decode_command(&plain).ok_or(Refusal::Syntax)
                } else if catenate::is_catenate(first_line) {
                    match catenate::split(bytes, &fragments) {
                        Ok((rewritten, parts)) => {
                            extras.catenate = Some(parts);
                            decode_command(&rewritten).ok_or(Refusal::Syntax)
                        }
                        Err(why) => Err(Refusal::Unsupported(format!("CATENATE: {why}"))),
                    }
                } else if literals > 1 && is_append(bytes) {
                    match split_multiappend(bytes, &fragments) {
                        Some((first, more)) => {
                            extras.more_appends = more;
                            Ok(first)
                        }
                        None => Err(Refusal::Syntax),
                    }
                } else {
                    match extensions::extract(bytes) {
                        Ok((rewritten, ext)) => {
                            extras = ext;
                            decode_command(&rewritten).ok_or_else(|| {
                                extensions::unsupported(bytes)
                                    .map_or(Refusal::Syntax, Refusal::Unsupported)
                            })
                        }
                        Err(e) => Err(Refusal::Unsupported(e.0)),
                    }
                };
                match first {
                    Ok(c) => Event::Command(Box::new(c), Box::new(extras)),
                    Err(why) => Event::Refused { tag: tag(), why },
                }
            }
            Mode::Authenticate => match self.frag.decode_message(&AuthenticateDataCodec::default())
            {
                Ok(d) => Event::AuthData(d.into_static()),
                Err(_) => Event::Refused {
                    tag: None,
                    why: Refusal::Syntax,
                },
            },
            Mode::Idle => match self.frag.decode_message(&IdleDoneCodec::default()) {
                Ok(_) => Event::IdleDone,
                Err(_) => Event::Refused {
                    tag: None,
                    why: Refusal::Syntax,
                },
            },
        }
    }
}

fn decode_command(bytes: &[u8]) -> Option<Command<'static>> {
    match CommandCodec::default().decode(bytes) {
        Ok(([], c)) => Some(c.into_static()),
        _ => None,
    }
}

fn is_append(message: &[u8]) -> bool {
    let mut words = message.splitn(3, |b| *b == b' ');
    words.next();
    words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case(b"APPEND"))
}

/// Splits a MULTIAPPEND (`tag APPEND box [flags] [date] lit [flags] [date] lit ...`) into
/// one APPEND per message: the first as sent, each later one as `tag APPEND box` followed by
/// its own flags, date and literal.
fn split_multiappend(
    message: &[u8],
    fragments: &[FragmentInfo],
) -> Option<(Command<'static>, Vec<Command<'static>>)> {
    let head: Vec<&[u8]> = message.splitn(4, |b| *b == b' ').take(3).collect();
    if head.len() < 3 || head[2].starts_with(b"{") {
        return None;
    }
    let prefix = [head[0], b" ", head[1], b" ", head[2]].concat();
    let bytes = |f: &FragmentInfo| message.get(f.range()).unwrap_or_default();
    let mut parts = Vec::new();
    let mut i = 0;
    while i + 1 < fragments.len() {
        let (line, literal) = (&fragments[i], &fragments[i + 1]);
        if !matches!(literal, FragmentInfo::Literal { .. }) {
            return None;
        }
        let mut part = if i == 0 { Vec::new() } else { prefix.clone() };
        part.extend_from_slice(bytes(line));
        part.extend_from_slice(bytes(literal));
        part.extend_from_slice(b"\r\n");
        parts.push(decode_command(&part)?);
        i += 2;
    }
    let last = fragments.last()?;
    if !matches!(last, FragmentInfo::Line { .. }) || bytes(last).trim_ascii() != b"" {
        return None;
    }
    let mut parts = parts.into_iter();
    let first = parts.next()?;
    Some((first, parts.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_codec::imap_types::command::CommandBody;

    fn reader() -> Reader {
        Reader::new(Limits {
            max_line: 100,
            max_literal: 50,
        })
    }

    #[test]
    fn commands_in_one_read_come_out_one_by_one() {
        let mut r = reader();
        r.push(b"a1 NOOP\r\na2 CAPABILITY\r\n");
        assert!(matches!(r.next_event(), Event::Command(c, _) if c.body == CommandBody::Noop));
        assert!(
            matches!(r.next_event(), Event::Command(c, _) if c.body == CommandBody::Capability)
        );
        assert!(matches!(r.next_event(), Event::NeedMore));
    }

    #[test]
    fn a_sync_literal_that_fits_gets_a_continuation() {
        let mut r = reader();
        r.push(b"a1 LOGIN {4}\r\n");
        assert!(matches!(r.next_event(), Event::Continue));
        assert!(matches!(r.next_event(), Event::NeedMore));
        r.push(b"user pw\r\n");
        assert!(
            matches!(r.next_event(), Event::Command(c, _) if matches!(c.body, CommandBody::Login { .. }))
        );
    }

    #[test]
    fn a_sync_literal_over_the_cap_is_refused_before_it_is_sent() {
        let mut r = reader();
        r.push(b"a1 APPEND INBOX {51}\r\na2 NOOP\r\n");
        match r.next_event() {
            Event::Refused { tag, why } => {
                assert_eq!(tag.expect("tag").as_ref(), "a1");
                assert_eq!(why, Refusal::LiteralTooBig(51));
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(r.next_event(), Event::Command(c, _) if c.tag.as_ref() == "a2"));
    }

    #[test]
    fn a_non_sync_literal_over_the_cap_is_read_past() {
        let mut r = reader();
        r.push(b"a1 APPEND INBOX {60+}\r\n");
        r.push(&[b'x'; 60]);
        r.push(b"\r\na2 NOOP\r\n");
        match r.next_event() {
            Event::Refused { tag, why } => {
                assert_eq!(tag.expect("tag").as_ref(), "a1");
                assert_eq!(why, Refusal::TooLong);
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(r.next_event(), Event::Command(c, _) if c.tag.as_ref() == "a2"));
    }

    #[test]
    fn a_long_line_is_refused_and_the_next_command_is_read() {
        let mut r = reader();
        let mut line = b"a1 NOOP ".to_vec();
        line.extend_from_slice(&[b'x'; 200]);
        line.extend_from_slice(b"\r\na2 NOOP\r\n");
        r.push(&line);
        assert!(matches!(
            r.next_event(),
            Event::Refused {
                why: Refusal::TooLong,
                ..
            }
        ));
        assert!(matches!(r.next_event(), Event::Command(c, _) if c.tag.as_ref() == "a2"));
    }

    #[test]
    fn a_line_without_end_is_not_kept() {
        let mut r = reader();
        r.push(b"a1 NOOP ");
        for _ in 0..1000 {
            r.push(&[b'x'; 10_000]);
            assert!(matches!(r.next_event(), Event::NeedMore));
            assert_eq!(r.buffered(), 0, "10 MB sent, nothing kept");
        }
        r.push(b"\r\na2 NOOP\r\n");
        match r.next_event() {
            Event::Refused { tag, why } => {
                assert_eq!(tag.expect("tag").as_ref(), "a1");
                assert_eq!(why, Refusal::TooLong);
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(r.next_event(), Event::Command(c, _) if c.tag.as_ref() == "a2"));
    }

    #[test]
    fn limits_change_between_commands_without_losing_pipelined_ones() {
        let mut r = Reader::new(Limits {
            max_line: 100,
            max_literal: 8,
        });
        r.push(b"a1 LOGIN {20}\r\n");
        assert!(matches!(
            r.next_event(),
            Event::Refused {
                why: Refusal::LiteralTooBig(20),
                ..
            }
        ));
        r.push(b"a2 LOGIN u p\r\na3 APPEND INBOX {20+}\r\n01234567890123456789\r\n");
        assert!(matches!(r.next_event(), Event::Command(c, _) if c.tag.as_ref() == "a2"));
        r.set_limits(Limits {
            max_line: 100,
            max_literal: 1000,
        });
        assert!(matches!(r.next_event(), Event::Command(c, _) if c.tag.as_ref() == "a3"));
    }

    struct Budget(std::sync::atomic::AtomicU64);

    impl InputBudget for Budget {
        fn try_reserve(&self, bytes: u64) -> bool {
            use std::sync::atomic::Ordering::SeqCst;
            self.0
                .fetch_update(SeqCst, SeqCst, |left| left.checked_sub(bytes))
                .is_ok()
        }
        fn release(&self, bytes: u64) {
            self.0.fetch_add(bytes, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn literals_are_kept_only_within_the_budget() {
        let budget = Arc::new(Budget(30.into()));
        let mut r = Reader::with_budget(
            Limits {
                max_line: 100,
                max_literal: 50,
            },
            budget.clone(),
        );
        r.push(b"a1 APPEND INBOX {40}\r\n");
        match r.next_event() {
            Event::Refused { tag, why } => {
                assert_eq!(tag.expect("tag").as_ref(), "a1");
                assert_eq!(why, Refusal::Busy);
            }
            e => panic!("{e:?}"),
        }
        r.push(b"a2 APPEND INBOX {40+}\r\n");
        r.push(&[b'x'; 40]);
        r.push(b"\r\na3 APPEND INBOX {20}\r\n");
        assert!(matches!(
            r.next_event(),
            Event::Refused {
                why: Refusal::Busy,
                ..
            }
        ));
        assert!(matches!(r.next_event(), Event::Continue));
        assert_eq!(
            budget.0.load(std::sync::atomic::Ordering::SeqCst),
            10,
            "20 held"
        );
        r.push(&[b'y'; 20]);
        r.push(b"\r\n");
        assert!(matches!(r.next_event(), Event::Command(c, _) if c.tag.as_ref() == "a3"));
        assert!(matches!(r.next_event(), Event::NeedMore));
        assert_eq!(
            budget.0.load(std::sync::atomic::Ordering::SeqCst),
            30,
            "given back once the command was handled"
        );
    }

    #[test]
    fn garbage_is_a_syntax_refusal_with_its_tag() {
        let mut r = reader();
        r.push(b"a1 FROBNICATE\r\n");
        match r.next_event() {
            Event::Refused { tag, why } => {
                assert_eq!(tag.expect("tag").as_ref(), "a1");
                assert_eq!(why, Refusal::Syntax);
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn multiappend_becomes_one_append_per_message() {
        let mut r = reader();
        r.push(b"a1 APPEND INBOX (\\Seen) {5+}\r\nhello {3+}\r\nbye\r\n");
        match r.next_event() {
            Event::Command(c, extras) => {
                assert!(matches!(c.body, CommandBody::Append { .. }));
                assert_eq!(extras.more_appends.len(), 1);
                let CommandBody::Append { message, .. } = &extras.more_appends[0].body else {
                    panic!("not an append")
                };
                assert!(format!("{message:?}").contains("bye"), "{message:?}");
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn extended_search_comes_with_its_options() {
        let mut r = reader();
        r.push(b"a1 SEARCH RETURN (COUNT) ALL\r\na2 SEARCH RETURN (SAVE) ALL\r\n");
        assert!(
            matches!(r.next_event(), Event::Command(_, e) if e.search_return.as_ref().is_some_and(|s| s.count))
        );
        assert!(matches!(
            r.next_event(),
            Event::Refused {
                why: Refusal::Unsupported(_),
                ..
            }
        ));
    }

    #[test]
    fn idle_done_and_sasl_lines() {
        let mut r = reader();
        r.mode = Mode::Idle;
        r.push(b"DONE\r\n");
        assert!(matches!(r.next_event(), Event::IdleDone));
        r.mode = Mode::Authenticate;
        r.push(b"*\r\n");
        assert!(matches!(
            r.next_event(),
            Event::AuthData(AuthenticateData::Cancel)
        ));
    }
}

//! Fuzz target: the message summary (MIME structure behind FETCH BODYSTRUCTURE and sections).
//! The input is read twice: as a raw message, and as a program that builds a deep and wide MIME
//! tree (multiparts, attached messages, leaves). Parsing never panics or overflows the stack,
//! the kept structure never nests deeper than the limit, the recorded depth is exact for the
//! built tree, part offsets stay inside the message, and the stored form round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_store::model::{
    Summary,
    summary::{MAX_MIME_DEPTH, Part},
};

/// Builds a message from `program`: at each part header a byte opens a multipart, attaches a
/// message (as a multipart's child; mail-parser reads a message attached directly in another
/// as text) or writes a leaf; after a leaf it starts the next sibling or
/// closes the innermost multipart. Returns the message and its deepest level.
fn build(program: &[u8]) -> (Vec<u8>, u32) {
    let mut out = b"Subject: built\r\n".to_vec();
    // Open multiparts: their boundary and the level of their children.
    let mut open: Vec<(usize, u32)> = Vec::new();
    let (mut deepest, mut level, mut boundaries) = (0u32, 0u32, 0usize);
    let mut needs_part = true;
    // Whether the part about to be written is a multipart's child.
    let mut child = false;
    for &op in program {
        if needs_part {
            deepest = deepest.max(level);
            match op % 4 {
                2 if child => {
                    out.extend(b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n");
                    level += 1;
                    child = false;
                }
                0..=2 => {
                    boundaries += 1;
                    let b = boundaries;
                    out.extend(
                        format!("Content-Type: multipart/mixed; boundary=b{b}\r\n\r\n--b{b}\r\n")
                            .as_bytes(),
                    );
                    level += 1;
                    open.push((b, level));
                    child = true;
                }
                _ => {
                    out.extend(b"Content-Type: text/plain\r\n\r\nleaf\r\n");
                    needs_part = false;
                }
            }
        } else if let Some(&(b, children)) = open.last() {
            if op % 2 == 0 {
                out.extend(format!("--b{b}\r\n").as_bytes());
                level = children;
                needs_part = true;
                child = true;
            } else {
                out.extend(format!("--b{b}--\r\n").as_bytes());
                open.pop();
            }
        } else {
            break;
        }
    }
    if needs_part {
        deepest = deepest.max(level);
        out.extend(b"Content-Type: text/plain\r\n\r\nleaf\r\n");
    }
    while let Some((b, _)) = open.pop() {
        out.extend(format!("--b{b}--\r\n").as_bytes());
    }
    (out, deepest)
}

fn check(raw: &[u8], part: &Part, level: u32) {
    assert!(level <= MAX_MIME_DEPTH, "kept structure deeper than the limit");
    assert!(part.header_start <= part.body_start && part.body_start <= part.body_end);
    assert!(part.body_end as usize <= raw.len(), "offsets stay in the message");
    for child in part.parts.iter().chain(part.message.as_ref().map(|m| &m.1)) {
        check(raw, child, level + 1);
    }
}

fn summarize(raw: &[u8]) -> Summary {
    let summary = Summary::parse(raw);
    check(raw, &summary.structure, 0);
    let bytes = rmp_serde::to_vec_named(&summary).expect("encode");
    let back: Summary = rmp_serde::from_slice(&bytes).expect("decode");
    assert_eq!(back, summary, "stored form round-trips");
    summary
}

fuzz_target!(|data: &[u8]| {
    summarize(data);
    // Short programs repeated make deep trees from small inputs.
    let Some((&repeat, program)) = data.split_first() else { return };
    let program: Vec<u8> = program.repeat(usize::from(repeat % 64) + 1);
    let (raw, deepest) = build(&program);
    let summary = summarize(&raw);
    assert_eq!(summary.depth, deepest, "the recorded depth is the built one");
    assert_eq!(summary.too_deep(), deepest > MAX_MIME_DEPTH);
});

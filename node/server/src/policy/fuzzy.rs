//! A fuzzy digest of a message's text, to count near-identical messages across the cluster
//! (the same campaign with other names, numbers or links in it), without I/O. The text is
//! normalised (lower case, letters only, runs of other characters as one space), cut into
//! overlapping three-word shingles, and summarised by eight min-hashes; messages sharing a
//! band (two consecutive min-hashes) are very likely to share most of their shingles.
//! [`bands`] gives the four band keys a text is counted under, [`of_message`] a message's.

/// Min-hashes per digest.
const HASHES: usize = 8;
/// Min-hashes per band.
const PER_BAND: usize = 2;
/// Fewer words than this give no digest (too short to tell campaigns apart).
const MIN_WORDS: usize = 8;

/// The text, normalised, as words.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() > 1)
        .map(str::to_lowercase)
        .collect()
}

/// SplitMix64's finaliser: spreads one 64-bit value over all bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The band keys of `text` (empty when it is too short).
pub fn bands(text: &str) -> Vec<String> {
    let words = words(text);
    if words.len() < MIN_WORDS {
        return Vec::new();
    }
    let mut mins = [u64::MAX; HASHES];
    for shingle in words.windows(3) {
        let hash = blake3::hash(shingle.join(" ").as_bytes());
        let h = u64::from_le_bytes(hash.as_bytes()[..8].try_into().unwrap_or_default());
        for (i, m) in mins.iter_mut().enumerate() {
            *m = (*m).min(mix(h ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        }
    }
    mins.chunks(PER_BAND)
        .enumerate()
        .map(|(i, band)| format!("{i}:{:016x}{:016x}", band[0], band[1]))
        .collect()
}

/// The band keys of a parsed message's text parts (HTML ones where it has no plain text).
pub fn of_message(parsed: &mail_parser::Message<'_>) -> Vec<String> {
    let text: String = (0..parsed.text_body_count().max(parsed.html_body_count()))
        .filter_map(|i| parsed.body_text(i))
        .collect::<Vec<_>>()
        .join("\n");
    bands(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAMPAIGN: &str = "Dear customer, your parcel could not be delivered because the \
        address was incomplete. Confirm your details within two days at our portal or the \
        parcel returns to the sender. Thank you for choosing our delivery service today.";

    #[test]
    fn near_identical_texts_share_a_band_and_others_do_not() {
        let a = bands(&format!(
            "Hello Ann, order 1234. {CAMPAIGN} https://x.test/a?id=9"
        ));
        let b = bands(&format!(
            "Hello Bob, order 98765. {CAMPAIGN} https://x.test/b?id=1"
        ));
        assert_eq!(a.len(), 4);
        assert!(a.iter().any(|band| b.contains(band)), "{a:?} {b:?}");
        let other = bands(
            "Minutes of the meeting: the budget for next year was approved, the roof repair \
             starts in March and the summer party moves to the garden behind the library.",
        );
        assert!(!a.iter().any(|band| other.contains(band)));
        assert!(bands("too short to count").is_empty());
    }
}

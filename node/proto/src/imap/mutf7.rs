//! Mailbox names in modified UTF-7 (RFC 3501 §5.1.3), as IMAP4rev1 clients without UTF8=ACCEPT
//! send and expect them; Tern stores names in UTF-8. Decoding is strict as Dovecot's is: a name
//! that is not the one canonical encoding of its text (printable ASCII inside a shift, `&`
//! not written `&-`, two shifts back to back, bits left over, a lone surrogate, raw 8-bit) is
//! refused rather than guessed at. The base64 alphabet is the `base64` crate's engine with `,`
//! for `/` (the `utf7-imap` crate does not validate and pulls in a regex engine).

use std::sync::LazyLock;

use base64::{
    Engine,
    alphabet::Alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};

/// Modified base64: `,` instead of `/`, no padding, no bits left over.
static B64: LazyLock<GeneralPurpose> = LazyLock::new(|| {
    let alphabet =
        Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")
            .expect("64 distinct characters");
    GeneralPurpose::new(
        &alphabet,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    )
});

/// Why a name is not modified UTF-7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid;

fn direct(c: char) -> bool {
    (' '..='~').contains(&c)
}

/// The modified UTF-7 form of a UTF-8 name.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut shifted: Vec<u16> = Vec::new();
    let flush = |shifted: &mut Vec<u16>, out: &mut String| {
        if shifted.is_empty() {
            return;
        }
        let bytes: Vec<u8> = shifted.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&B64.encode(bytes));
        out.push('-');
        shifted.clear();
    };
    for c in name.chars() {
        if direct(c) {
            flush(&mut shifted, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            shifted.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut shifted, &mut out);
    out
}

/// The UTF-8 name a modified UTF-7 one stands for.
pub fn decode(wire: &str) -> Result<String, Invalid> {
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    let mut after_shift = false;
    while let Some(c) = rest.chars().next() {
        if !direct(c) {
            return Err(Invalid);
        }
        if c != '&' {
            out.push(c);
            rest = &rest[1..];
            after_shift = false;
            continue;
        }
        let end = rest.find('-').ok_or(Invalid)?;
        let encoded = &rest[1..end];
        rest = &rest[end + 1..];
        if encoded.is_empty() {
            out.push('&');
            after_shift = false;
            continue;
        }
        if after_shift {
            // Two shifts in a row: a canonical encoder writes one.
            return Err(Invalid);
        }
        let bytes = B64.decode(encoded).map_err(|_| Invalid)?;
        if bytes.len() % 2 != 0 {
            return Err(Invalid);
        }
        let units = bytes.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]]));
        for c in char::decode_utf16(units) {
            let c = c.map_err(|_| Invalid)?;
            if direct(c) {
                return Err(Invalid);
            }
            out.push(c);
        }
        after_shift = true;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_example_and_others_round_trip() {
        // RFC 3501 §5.1.3: "~peter/mail/日本語/台北".
        let name = "~peter/mail/\u{65e5}\u{672c}\u{8a9e}/\u{53f0}\u{5317}";
        assert_eq!(encode(name), "~peter/mail/&ZeVnLIqe-/&U,BTFw-");
        for name in [
            name,
            "Entwürfe",
            "Отправленные",
            "Tom & Jerry",
            "&",
            "emoji 📬 box",
            "plain",
            "",
        ] {
            assert_eq!(decode(&encode(name)).as_deref(), Ok(name), "{name}");
        }
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(encode("Entwürfe"), "Entw&APw-rfe");
    }

    /// The fuzz target's properties over many strings from an alphabet that makes shifts.
    #[test]
    fn decoding_accepts_only_canonical_encodings() {
        let alphabet = [
            'a', '&', '-', 'A', 'O', 'Q', '5', 'P', 'w', ',', '+', 'ä', '📬',
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let mut s = String::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for i in 0..(x % 12) {
                s.push(alphabet[((x >> (i * 4)) % alphabet.len() as u64) as usize]);
            }
            if let Ok(text) = decode(&s) {
                assert_eq!(encode(&text), s, "canonical");
            }
            assert_eq!(decode(&encode(&s)).as_deref(), Ok(s.as_str()), "round trip");
        }
    }

    #[test]
    fn what_is_not_canonical_is_refused() {
        for wire in [
            "Entw&APw",      // unterminated
            "&AGE-",         // "a" shifted
            "&APw-&APw-",    // two shifts back to back
            "&APx-",         // bits left over
            "&2D0-",         // a lone surrogate
            "Entw\u{fc}rfe", // raw 8-bit
            "tab\there",     // a control character
            "&AP-",          // not a whole UTF-16 unit
        ] {
            assert_eq!(decode(wire), Err(Invalid), "{wire:?}");
        }
        assert_eq!(decode("a&-b").as_deref(), Ok("a&b"));
        assert_eq!(decode("&APw-&-").as_deref(), Ok("ü&"));
    }
}

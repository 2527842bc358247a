//! The byte scanner under the reader's fast path for start tags: finds quotes and the ends of
//! attribute values eight bytes at a time (SWAR), and reads the `key=` before a value.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` below `n`, exact up to the first such byte.
#[inline]
const fn bytes_below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * n as u64) & !word & HIGHS
}

/// The high bit of each byte of `word` equal to `b`, exact up to the first such byte.
#[inline]
const fn bytes_equal(word: u64, b: u8) -> u64 {
    bytes_below(word ^ (ONES * b as u64), 1)
}

/// The position of the first `"` in `bytes` at or after `from`, looked for eight bytes at a
/// time in line: the spans between quotes are short, and a call to `memchr` costs more.
#[inline]
pub(super) fn find_quote(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(chunk) = bytes.get(at..).and_then(|rest| rest.first_chunk::<8>()) {
        let quotes = bytes_equal(u64::from_le_bytes(*chunk), b'"');
        if quotes != 0 {
            return Some(at + (quotes.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = bytes.get(at..)?;
    rest.iter().position(|&b| b == b'"').map(|p| at + p)
}

/// Like [`find_quote`], for a value: also whether the value up to the quote is plain, with
/// none of the bytes attribute-value normalization acts on (`&`, tab, line breaks). Any
/// control byte below 0x0e counts, which only costs a call to normalization that changes
/// nothing.
#[inline]
pub(super) fn find_value_end(bytes: &[u8], from: usize) -> Option<(usize, bool)> {
    let mut at = from;
    let mut special = 0u64;
    while let Some(chunk) = bytes.get(at..).and_then(|rest| rest.first_chunk::<8>()) {
        let word = u64::from_le_bytes(*chunk);
        let quotes = bytes_equal(word, b'"');
        let suspects = bytes_below(word, 0x0e) | bytes_equal(word, b'&');
        if quotes != 0 {
            let bit = quotes.trailing_zeros();
            // The suspects before the quote: bytes below its own.
            let before = (1u64 << bit) - 1;
            let plain = special == 0 && suspects & before == 0;
            return Some((at + (bit / 8) as usize, plain));
        }
        special |= suspects;
        at += 8;
    }
    let rest = bytes.get(at..)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let tail = rest.get(..end).unwrap_or_default();
    Some((at + end, special == 0 && !needs_normalizing(tail)))
}

/// XML white space, as a byte.
pub(super) fn is_space(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The range of the key in what comes before an attribute's opening quote, which must be
/// ` key=` with white space first and any around the `=`. `None` for anything else.
pub(super) fn attribute_key(before: &[u8]) -> Option<std::ops::Range<usize>> {
    let mut pos = 0;
    while before.get(pos).is_some_and(is_space) {
        pos += 1;
    }
    let start = pos;
    while let Some(b) = before.get(pos) {
        match b {
            b'=' => break,
            b'\'' => return None,
            b if is_space(b) => break,
            _ => pos += 1,
        }
    }
    let end = pos;
    while before.get(pos).is_some_and(is_space) {
        pos += 1;
    }
    if start == 0 || end == start || before.get(pos) != Some(&b'=') {
        return None;
    }
    pos += 1;
    while before.get(pos).is_some_and(is_space) {
        pos += 1;
    }
    (pos == before.len()).then_some(start..end)
}

/// Whether attribute-value normalization may change `bytes`: it holds `&`, a tab or a line
/// break. Other control bytes count too (they cost only a call that changes nothing); in
/// exchange the loop has no branch and is vectorized.
fn needs_normalizing(bytes: &[u8]) -> bool {
    let mut found = false;
    for &b in bytes {
        found |= (b == b'&') | (b < 0x0e);
    }
    found
}

/// XML white space, which the reader skips before markup.
pub(super) fn is_xml_space(c: char) -> bool {
    u8::try_from(c).is_ok_and(|b| is_space(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizing_is_needed_for_references_and_breaks() {
        for (text, needed) in [
            (
                "plain value, long enough to fill a vector register twice over",
                false,
            ),
            ("", false),
            ("a &amp; b", true),
            ("tab\there", true),
            ("line\nbreak", true),
            ("carriage\rreturn", true),
            ("été 🚀 \u{7f}", false),
        ] {
            assert_eq!(needs_normalizing(text.as_bytes()), needed, "{text:?}");
        }
    }

    #[test]
    fn quotes_are_found_like_a_simple_scan() {
        let text = br#"a"bcdefghij"klmnopqrstuvwxyz0123"4"56789"""#;
        for from in 0..=text.len() {
            let expected = text[from..]
                .iter()
                .position(|&b| b == b'"')
                .map(|p| from + p);
            assert_eq!(find_quote(text, from), expected, "from {from}");
            for len in from..=text.len() {
                let expected = text[from..len]
                    .iter()
                    .position(|&b| b == b'"')
                    .map(|p| from + p);
                assert_eq!(find_quote(&text[..len], from), expected, "{from}..{len}");
            }
        }
    }

    /// `find_value_end` against a byte-at-a-time scan: the same end, and never "plain" wrongly.
    #[test]
    fn value_ends_match_a_simple_scan() {
        let alphabet = b"ab\"'&\t\n\r\x01\x0d\x0e =\xc3\xa9<>";
        // A seeded xorshift, in line: `dynamics_test_support::Rng` depends (through the
        // emulator) on this crate, so a unit test inside it cannot use that.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (i % 50)) as usize + i * 7) % alphabet.len()])
                .collect();
            let expected = bytes.iter().position(|&b| b == b'"').map(|end| {
                let plain = !bytes[..end]
                    .iter()
                    .any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r'));
                (end, plain)
            });
            let got = find_value_end(&bytes, 0);
            assert_eq!(got.map(|g| g.0), expected.map(|e| e.0), "{bytes:?}");
            if let (Some(g), Some(e)) = (got, expected) {
                assert!(!g.1 || e.1, "reported plain wrongly: {bytes:?}");
                let exact = !bytes[..e.0].iter().any(|&b| b == b'&' || b < 0x0e);
                assert_eq!(g.1, exact, "{bytes:?}");
            }
        }
    }

    #[test]
    fn attribute_keys_need_space_before_and_an_equals_sign_after() {
        for (before, key) in [
            (" Name=", Some("Name")),
            ("\n\t Name = ", Some("Name")),
            (" xmlns:edm=", Some("xmlns:edm")),
            ("Name=", None),
            (" Name", None),
            (" =", None),
            (" Na me=", None),
            (" Name='x' Type=", None),
            (" Name=x", None),
            (" Name==", None),
        ] {
            let got = attribute_key(before.as_bytes()).map(|r| &before[r]);
            assert_eq!(got, key, "{before:?}");
        }
    }
}

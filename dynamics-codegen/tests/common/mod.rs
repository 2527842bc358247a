//! Helpers shared by the test crates of `dynamics-codegen`: seeded mutations of documents, with
//! the generator and corpus reader of `dynamics-test-support`.
#![allow(dead_code)] // each test crate uses its own part

pub use dynamics_test_support::{Rng, fuzz_corpus as corpus};

/// Pieces that reach deep into the parser when spliced in.
const SPLICES: &[&[u8]] = &[
    b"<",
    b">",
    b"/>",
    b"</EntityType>",
    b"<Property Name=\"x\" Type=\"Edm.String\"/>",
    b"<NavigationProperty Name=\"n\" Type=\"Collection(mscrm.account)\"/>",
    b"&amp;",
    b"&#x0;",
    b"&bogus;",
    b"\"",
    b"'",
    b" Nullable=\"maybe\"",
    b"<![CDATA[x]]>",
    b"<!-- c -->",
    b"\xff\xfe",
    b"mscrm.",
    b"Edm.",
];

/// Up to five random edits: a byte changed, a run cut, a piece spliced in, a run copied, the end
/// cut off.
pub fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len());
        match rng.below(5) {
            0 => bytes[at] = rng.next_u64() as u8,
            1 => {
                let end = (at + rng.below(64)).min(bytes.len());
                bytes.drain(at..end);
            }
            2 => {
                let piece = SPLICES[rng.below(SPLICES.len())];
                bytes.splice(at..at, piece.iter().copied());
            }
            3 => {
                let end = (at + rng.below(256)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, copy);
            }
            _ => bytes.truncate(at),
        }
        if bytes.is_empty() {
            break;
        }
    }
    bytes
}

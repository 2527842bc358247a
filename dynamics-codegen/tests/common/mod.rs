//! Helpers shared by the test crates of `dynamics-codegen`: seeded mutations of documents and
//! the fuzz corpora.
#![allow(dead_code)] // each test crate uses its own part

/// xorshift64*: a small, seeded generator, so every run tries the same inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

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
            0 => bytes[at] = rng.next() as u8,
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

/// Every file of a fuzz corpus (`fuzz/corpus/<target>`), as the fuzzer keeps them.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = format!("{}/../fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
    let inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    assert!(inputs.len() >= 100, "only {} inputs in {dir}", inputs.len());
    inputs
}

//! Deterministic mutations of real documents: whatever the bytes, parsing ends in a model or a
//! typed error, never a panic. The fuzz targets in `fuzz/` explore the same space without end.

use dynamics_codegen::choices::Choices;
use dynamics_codegen::csdl::Metadata;

/// xorshift64*: a small, seeded generator, so every run tries the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
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

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
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

#[test]
fn mutated_metadata_never_panics() {
    let sample = include_bytes!("fixtures/sample.xml");
    let mut rng = Rng(0x00c0_ffee_d00d_f00d);
    let (mut parsed, mut refused) = (0, 0);
    for _ in 0..3_000 {
        let input = mutate(&mut rng, sample);
        match Metadata::parse_bytes(&input) {
            Ok(_) => parsed += 1,
            Err(e) => {
                // Every refusal says what was wrong.
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
    }
    assert!(
        parsed > 100 && refused > 1_000,
        "{parsed} parsed, {refused} refused"
    );
}

#[test]
fn mutated_choices_never_panic() {
    let sample = include_bytes!("fixtures/sample.choices.json");
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut refused = 0;
    for _ in 0..2_000 {
        let input = mutate(&mut rng, sample);
        let text = String::from_utf8_lossy(&input);
        if Choices::parse(&text).is_err() {
            refused += 1;
        }
    }
    assert!(refused > 500, "{refused} refused");
}

/// Every file of a fuzz corpus (`fuzz/corpus/<target>`), as the fuzzer keeps them.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = format!("{}/../fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
    let inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    assert!(inputs.len() >= 100, "only {} inputs in {dir}", inputs.len());
    inputs
}

#[test]
fn the_csdl_fuzz_corpus_replays() {
    let (mut parsed, mut refused) = (0, 0);
    for input in corpus("csdl") {
        match Metadata::parse_bytes(&input) {
            Ok(_) => parsed += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
    }
    // The corpus keeps inputs that reach new code: documents the parser takes and ones it refuses.
    assert!(
        parsed > 0 && refused > 0,
        "{parsed} parsed, {refused} refused"
    );
}

#[test]
fn the_choices_fuzz_corpus_replays() {
    let mut replayed = 0;
    for input in corpus("choices") {
        // The target takes `&str`: libFuzzer skips inputs that are not UTF-8.
        if let Ok(text) = std::str::from_utf8(&input) {
            if let Err(e) = Choices::parse(text) {
                assert!(!e.to_string().is_empty());
            }
            replayed += 1;
        }
    }
    assert!(replayed >= 100, "{replayed} replayed");
}

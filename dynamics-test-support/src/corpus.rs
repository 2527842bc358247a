//! The committed fuzz corpora (`fuzz/corpus/<target>`), replayed by ordinary tests so that
//! `cargo test` checks every input the fuzzers kept, without a fuzzer.

/// Every input of the corpus of fuzz target `target`, in no particular order.
///
/// # Panics
/// When the corpus cannot be read or holds fewer than 100 inputs: a test replaying a missing
/// or emptied corpus would otherwise pass without checking anything.
pub fn fuzz_corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = format!("{}/../fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read the corpus {dir}: {e}"));
    let inputs: Vec<Vec<u8>> = entries
        .map(|entry| {
            let path = entry
                .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
                .path();
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        })
        .collect();
    assert!(inputs.len() >= 100, "only {} inputs in {dir}", inputs.len());
    inputs
}

//! What generated code refuses to compile: wrong value types in filters, filters of another
//! table, bare ids for polymorphic lookups. Accept new output with
//! `TRYBUILD=overwrite cargo test -p dynamics-tests --test ui` (the `.stderr` files follow the
//! compiler's wording, checked on the toolchain this project builds with).

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("ui/*.rs");
}

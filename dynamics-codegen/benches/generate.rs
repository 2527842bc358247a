//! Generation of every table of the largest `$DYNAMICS_METADATA_CORPUS` document (the sample
//! metadata when it is not set): tokens alone, and tokens + formatting, as a build script does.
//!
//! `cargo bench -p dynamics-codegen --bench generate`. Target: under 1 s with formatting.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use dynamics_codegen::csdl::Metadata;
use dynamics_codegen::{Generator, GeneratorSettings};

fn largest_document() -> PathBuf {
    let fallback = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sample.xml"
    ));
    let Some(dir) = std::env::var_os("DYNAMICS_METADATA_CORPUS") else {
        eprintln!("DYNAMICS_METADATA_CORPUS not set: benchmarking the sample metadata");
        return fallback;
    };
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "xml"))
                .filter_map(|e| Some((e.metadata().ok()?.len(), e.path())))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.pop().map_or(fallback, |(_, path)| path)
}

fn generate(c: &mut Criterion) {
    let path = largest_document();
    let metadata = Metadata::from_path(&path).expect("document parses");
    let mut settings = GeneratorSettings::new();
    settings.with_all_entities();
    let tokens = Generator::new(&settings)
        .generate_tokens(&metadata)
        .expect("generates");
    let formatted = dynamics_codegen::format(tokens).expect("formats");
    eprintln!(
        "{}: {} tables -> {} bytes of Rust",
        path.display(),
        metadata.entity_types().len(),
        formatted.len()
    );

    let mut group = c.benchmark_group("generate all tables");
    group.sample_size(10);
    group.bench_function("tokens", |b| {
        b.iter(|| {
            Generator::new(&settings)
                .generate_tokens(black_box(&metadata))
                .expect("generates")
        })
    });
    group.bench_function("tokens + format", |b| {
        b.iter(|| {
            let tokens = Generator::new(&settings)
                .generate_tokens(black_box(&metadata))
                .expect("generates");
            dynamics_codegen::format(tokens).expect("formats")
        })
    });
    group.finish();
}

criterion_group!(benches, generate);
criterion_main!(benches);

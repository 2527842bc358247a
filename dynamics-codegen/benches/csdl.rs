//! Parse + resolve of CSDL beside a bare quick-xml event scan of the same bytes.
//!
//! `cargo bench -p dynamics-codegen --bench csdl`. Inputs: the largest document of
//! `$DYNAMICS_METADATA_CORPUS` (when set) and a synthetic Dataverse-shaped document of 1,000
//! entity types generated here. Peak heap memory of one parse + resolve is printed as a
//! multiple of the input size, measured with a counting allocator. "parse + resolve" times
//! freeing the model too; "drop excluded" leaves that out.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dynamics_codegen::csdl::Metadata;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

#[path = "common/synthetic.rs"]
mod synthetic;
use synthetic::synthetic;

/// Counts live and peak heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only adds bookkeeping.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The baseline: every event read, nothing kept.
fn bare_scan(text: &str) -> usize {
    let mut reader = Reader::from_str(text);
    let mut events = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return events,
            Ok(_) => events += 1,
            Err(e) => panic!("scan failed: {e}"),
        }
    }
}

fn largest_corpus_document() -> Option<(String, String)> {
    let dir = std::env::var_os("DYNAMICS_METADATA_CORPUS")?;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "xml"))
        .filter_map(|e| Some((e.metadata().ok()?.len(), e.path())))
        .collect();
    files.sort();
    let (_, path) = files.pop()?;
    let text = std::fs::read_to_string(&path).ok()?;
    Some((path.file_name()?.to_string_lossy().into_owned(), text))
}

/// Peak heap bytes above the starting level during one parse + resolve.
fn peak_memory(text: &str) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let metadata = Metadata::parse(text).expect("document parses");
    let peak = PEAK.load(Ordering::Relaxed) - base;
    drop(black_box(metadata));
    peak
}

fn bench_document(c: &mut Criterion, label: &str, text: &str) {
    let peak = peak_memory(text);
    eprintln!(
        "{label}: {} bytes; peak heap during parse + resolve {} bytes = {:.2}x the document",
        text.len(),
        peak,
        peak as f64 / text.len() as f64
    );
    let mut group = c.benchmark_group(label);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);
    group.bench_function("bare quick-xml scan", |b| {
        b.iter(|| bare_scan(black_box(text)))
    });
    group.bench_function("parse + resolve", |b| {
        b.iter(|| Metadata::parse(black_box(text)).expect("document parses"))
    });
    // The same, with freeing the model left out of the timing (the line above includes it).
    group.bench_function("parse + resolve, drop excluded", |b| {
        b.iter_with_large_drop(|| Metadata::parse(black_box(text)).expect("document parses"))
    });
    group.finish();
}

fn csdl(c: &mut Criterion) {
    if let Some((name, text)) = largest_corpus_document() {
        bench_document(c, &format!("corpus/{name}"), &text);
    } else {
        eprintln!("corpus: skipped (set DYNAMICS_METADATA_CORPUS)");
    }
    let text = synthetic(1_000);
    assert!(
        text.len() >= 10_000_000,
        "synthetic document is {} bytes",
        text.len()
    );
    bench_document(c, "synthetic-1000-tables", &text);
}

criterion_group!(benches, csdl);
criterion_main!(benches);

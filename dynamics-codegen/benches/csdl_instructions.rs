//! One step of the CSDL row of the benchmarks, for counting instructions under callgrind.
//!
//! `csdl_instructions <load|scan|parse|parse-kept> <file.xml|synthetic>`: loads the input
//! (reads the file, or builds the synthetic 1,000-table document of the `csdl` bench), then
//! does nothing more (`load`), runs the bare quick-xml event scan of the `csdl` bench (`scan`),
//! parses, resolves and drops the model (`parse`), or parses and resolves, leaving the model to
//! the end of the process (`parse-kept`, the bench's "drop excluded").
//! `tools/csdl-instructions.sh` runs each under callgrind and subtracts `load` from the others,
//! so the figures count only the work.

use std::hint::black_box;

use dynamics_codegen::csdl::Metadata;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

#[path = "common/synthetic.rs"]
mod synthetic;

/// The baseline, as in the `csdl` bench: every event read with the default config.
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; this binary is run by the script, not by cargo.
    let (Some(step), Some(input)) = (args.first(), args.get(1)) else {
        eprintln!("usage: csdl_instructions <load|scan|parse|parse-kept> <file.xml|synthetic>");
        return;
    };
    let text = match input.as_str() {
        "synthetic" => synthetic::synthetic(1_000),
        path => std::fs::read_to_string(path).expect("the input is readable UTF-8"),
    };
    let text = black_box(text);
    match step.as_str() {
        "load" => {}
        "scan" => {
            black_box(bare_scan(&text));
        }
        "parse" => {
            let metadata = Metadata::parse(&text).expect("the document parses");
            drop(black_box(metadata));
        }
        "parse-kept" => {
            let metadata = Metadata::parse(&text).expect("the document parses");
            // Never freed: the process ends right after.
            std::mem::forget(black_box(metadata));
        }
        other => panic!("unknown step `{other}`"),
    }
    drop(text);
}

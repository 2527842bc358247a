//! Compile errors of `dynamics_entities!`, each pointing at the offending token.
//! Accept new output with `TRYBUILD=overwrite cargo test -p dynamics-macros --test ui`.

use std::path::{Path, PathBuf};

/// trybuild compiles the cases in a crate of its own under the target directory, and the macro
/// resolves metadata paths against that crate's manifest directory: give it the fixtures.
fn install_fixtures() {
    let exe = std::env::current_exe().expect("test executable path");
    // <target>/<profile>/deps/ui-<hash>
    let target = exe
        .ancestors()
        .nth(3)
        .expect("test executable lives in <target>/<profile>/deps");
    let project = target
        .join("tests")
        .join("trybuild")
        .join("dynamics-macros");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("fixtures"),
        &project.join("tests").join("fixtures"),
    );
}

fn copy_dir(from: &Path, to: &PathBuf) {
    std::fs::create_dir_all(to).expect("create fixture folder");
    for entry in std::fs::read_dir(from).expect("read fixtures") {
        let entry = entry.expect("fixture entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy fixture");
    }
}

#[test]
fn ui() {
    install_fixtures();
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

//! `--help` of every command, against the expected files in `tests/expected/`.
//! Accept intended changes with `EXPECTORATE=overwrite cargo test -p dynamics-cli --test help`.

const COMMANDS: &[&[&str]] = &[
    &[],
    &["login"],
    &["environments"],
    &["metadata", "pull"],
    &["codegen"],
    &["cert", "new"],
    &["connection"],
    &["connection", "create"],
    &["connection", "request"],
    &["connection", "complete"],
    &["connection", "list"],
    &["connection", "show"],
    &["connection", "test"],
    &["connection", "edit"],
    &["connection", "rotate-cert"],
    &["connection", "delete"],
    &["data"],
    &["data", "import"],
    &["data", "export"],
];

#[test]
fn help_matches_the_expected_files() {
    let mut all = String::new();
    for command in COMMANDS {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_dynamics"))
            .args(*command)
            .arg("--help")
            .env_remove("DYNAMICS_ENVIRONMENT")
            .output()
            .unwrap();
        assert!(output.status.success(), "{command:?}");
        all.push_str(&format!("$ dynamics {} --help\n", command.join(" ")));
        all.push_str(&String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n"));
        all.push('\n');
    }
    expectorate::assert_contents("tests/expected/help.txt", &all);
}

#[test]
fn unknown_commands_are_usage_errors() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dynamics"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

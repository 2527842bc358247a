//! On a terminal, a command that needs an environment asks which one. Run under `script`
//! (util-linux), which gives the CLI a pseudo-terminal and feeds it the answer.

mod support;

use std::io::Write as _;
use std::process::Stdio;

use support::{ADMIN, ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asks_which_environment_on_a_terminal() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("this test needs `script` from util-linux to provide a terminal");
    }
    let f = support::start().await;
    ok(&f.login(ADMIN).await);
    let dir = support::scratch("prompt");
    let metadata = dir.join("metadata.xml");
    let inner = format!(
        "{} metadata pull -o {}",
        env!("CARGO_BIN_EXE_dynamics"),
        metadata.display()
    );
    let command = f.command(&[]);
    // The same environment as `f.command`, around `script`.
    let mut script = std::process::Command::new("script");
    script.args(["-qec", &inner, "/dev/null"]);
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    script
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = tokio::task::spawn_blocking(move || {
        let mut child = script.spawn().unwrap();
        // Answer 9 (out of range, asked again), then 1: the emulator itself.
        child.stdin.take().unwrap().write_all(b"9\n1\n").unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("Which environment?"), "{shown}");
    assert!(shown.contains("Contoso (test)"), "{shown}");
    assert!(support::read(&metadata).contains("systemuser"));
}

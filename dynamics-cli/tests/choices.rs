//! `dynamics metadata pull --choices`: the option sets of every choice column, from the
//! emulator's metadata API, in the document `dynamics codegen --choices` reads.

mod support;

use dynamics_emulator::{Emulator, UserRights};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_a_choices_document_the_generator_reads() {
    let fixtures = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dynamics-codegen/tests/fixtures"
    );
    let emulator = Emulator::builder()
        .metadata_file(format!("{fixtures}/sample.xml"))
        .choices_file(format!("{fixtures}/sample.choices.json"))
        .user(support::ADMIN, UserRights::Admin)
        .start()
        .await
        .unwrap();
    let f = support::Fixture {
        emulator,
        config: support::scratch("choices"),
    };
    support::ok(&f.login(support::ADMIN).await);
    let dir = support::scratch("choices-out");
    let metadata = dir.join("metadata.xml");
    let choices = dir.join("choices.json");
    // One environment: no --environment needed.
    let pulled = f
        .run(&[
            "metadata",
            "pull",
            "-o",
            metadata.to_str().unwrap(),
            "--choices",
            choices.to_str().unwrap(),
        ])
        .await;
    support::ok(&pulled);
    let document = dynamics_codegen::choices::Choices::from_path(&choices).unwrap();
    let expected =
        dynamics_codegen::choices::Choices::from_path(format!("{fixtures}/sample.choices.json"))
            .unwrap();
    let industry = document.column("account", "industrycode").unwrap();
    assert_eq!(
        industry.option_set.options,
        expected
            .column("account", "industrycode")
            .unwrap()
            .option_set
            .options
    );

    let code = dir.join("account.rs");
    support::ok(
        &f.run(&[
            "codegen",
            "--metadata",
            metadata.to_str().unwrap(),
            "--entities",
            "account",
            "--choices",
            choices.to_str().unwrap(),
            "-o",
            code.to_str().unwrap(),
        ])
        .await,
    );
    assert!(support::read(&code).contains("enum"));
}

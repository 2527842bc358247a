//! Choice columns as Rust enums: `cargo run --example choices`.
//!
//! With a choices document beside the metadata (`dynamics metadata` writes one), each choice
//! column becomes an enum whose variants are named after the labels: records are written and
//! queried with `AccountIndustrycode::Brokers`, not with `4`. A value the document did not
//! know still reads, as `Unknown(n)`. Offline on the embedded emulator by default, loaded with
//! the same choices document so that it checks values and formats labels as Dataverse does;
//! against a real environment when `DYNAMICS_URL` and the `AZURE_*` variables are set
//! (`--help`).

use std::process::ExitCode;

use dynamics_client::{Query, Result, entity::Choice};
use dynamics_examples::{Environment, run_example_with};

dynamics_client::dynamics_entities! {
    metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
    choices = "../dynamics-codegen/tests/fixtures/sample.choices.json",
    entities = [account],
}

const CHOICES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../dynamics-codegen/tests/fixtures/sample.choices.json"
);

#[tokio::main]
async fn main() -> ExitCode {
    run_example_with(
        "choices: write, read and query choice columns as Rust enums.",
        |emulator| emulator.choices_file(CHOICES),
        async |environment| run(environment).await,
    )
    .await
}

async fn run(environment: &Environment) -> Result<()> {
    let accounts = environment.client.accounts();
    let tag = format!("dynamics-rs choices {}", std::process::id());

    let mut ids = Vec::new();
    for (name, industry) in [
        ("Fabrikam", AccountIndustrycode::Brokers),
        ("Litware", AccountIndustrycode::Accounting),
        ("Tailspin", AccountIndustrycode::Brokers),
    ] {
        let account = Account {
            name: Some(format!("{name} ({tag})")),
            industrycode: Some(industry),
            ..Default::default()
        };
        ids.push(accounts.create(&account).await?);
    }
    println!("created {} accounts", ids.len());

    // Read one back: the enum, its number on the wire, and the label the service formats.
    let read = accounts
        .retrieve_annotated(ids[0], (Account::NAME, Account::INDUSTRYCODE))
        .await?;
    if let Some(industry) = read.record.industrycode {
        println!(
            "{}: {industry:?} (value {}, label {:?}, formatted by the service as {:?})",
            read.record.name.as_deref().unwrap_or_default(),
            industry.value(),
            industry.label().unwrap_or("-"),
            read.formatted(Account::INDUSTRYCODE).unwrap_or("-"),
        );
    }

    // Query by a variant: the filter takes the enum, so a wrong number cannot be written.
    let brokers = accounts
        .query(
            &Query::new()
                .select(Account::NAME)
                .filter(Account::NAME.ends_with(format!("({tag})")))
                .filter(Account::INDUSTRYCODE.eq(AccountIndustrycode::Brokers))
                .order_by(Account::NAME.asc()),
        )
        .await?;
    let names: Vec<&str> = brokers
        .items
        .iter()
        .filter_map(|a| a.name.as_deref())
        .collect();
    println!("brokers: {}", names.join(", "));

    // A value added to the choice after the document was pulled still reads.
    let unknown = AccountIndustrycode::from_value(100_000_001);
    println!(
        "a value the document does not know: {unknown:?}, label {:?}",
        unknown.label()
    );

    for id in ids {
        accounts.delete(id).await?;
    }
    println!("deleted the accounts");
    Ok(())
}

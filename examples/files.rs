//! Files in file columns: `cargo run --example files`.
//!
//! A file column holds a document beside a record (a contract, a scan): its content moves on
//! its own requests, never inside the record. This example uploads a small file (one request)
//! and a large one (in chunks), reads each back, shows what the record itself holds (the
//! file's id and name), and deletes a file. Offline on the embedded emulator by default (the
//! sample metadata gives `account` a file column, `new_contract`); against a real environment
//! when `DYNAMICS_URL` and the `AZURE_*` variables are set (`--help`), where a file column
//! `new_contract` must have been added to the account table first.

use std::process::ExitCode;

use dynamics_client::{Error, Result};
use dynamics_examples::{Environment, run_example};

dynamics_client::dynamics_entities! {
    metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
    entities = [account],
}

#[tokio::main]
async fn main() -> ExitCode {
    run_example(
        "files: upload, download and delete the file of a file column.",
        async |environment| run(environment).await,
    )
    .await
}

async fn run(environment: &Environment) -> Result<()> {
    let accounts = environment.client.accounts();
    let account = Account {
        name: Some(format!(
            "Fabrikam (dynamics-rs files {})",
            std::process::id()
        )),
        ..Default::default()
    };
    let id = accounts.create(&account).await?;

    // A small file goes up in one request.
    let terms = b"1. Be excellent to each other.\n2. Pay on time.\n";
    let uploaded = accounts
        .upload_file(id, Account::NEW_CONTRACT, "terms.txt", terms)
        .await;
    if let Err(Error::Api(api)) = &uploaded
        && api.status == 400
    {
        println!("the environment has no file column account.new_contract: {api}");
        return accounts.delete(id).await;
    }
    uploaded?;
    let read = accounts
        .retrieve_columns(id, (Account::NEW_CONTRACT, Account::NEW_CONTRACT_NAME))
        .await?;
    println!(
        "the record holds file {} named {:?}",
        read.new_contract.map(|f| f.to_string()).unwrap_or_default(),
        read.new_contract_name.unwrap_or_default()
    );
    let file = accounts.download_file(id, Account::NEW_CONTRACT).await?;
    println!(
        "downloaded {:?} ({}, {} bytes): {}",
        file.name.as_deref().unwrap_or("-"),
        file.mime_type.as_deref().unwrap_or("-"),
        file.content.len(),
        if file.content == terms {
            "the same bytes"
        } else {
            "different bytes!"
        }
    );

    // A file over 4 MiB replaces it, in chunks of the size the service asks for.
    let scan: Vec<u8> = (0..6 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    accounts
        .upload_file(id, Account::NEW_CONTRACT, "signed-scan.pdf", &scan)
        .await?;
    let file = accounts.download_file(id, Account::NEW_CONTRACT).await?;
    println!(
        "downloaded {:?} ({}, {} bytes): {}",
        file.name.as_deref().unwrap_or("-"),
        file.mime_type.as_deref().unwrap_or("-"),
        file.content.len(),
        if file.content == scan {
            "the same bytes"
        } else {
            "different bytes!"
        }
    );

    // Deleting the file leaves the record; reading the file is then "not found".
    accounts.delete_file(id, Account::NEW_CONTRACT).await?;
    match accounts.download_file(id, Account::NEW_CONTRACT).await {
        Err(Error::NotFound(_)) => println!("deleted the file; the record stays"),
        Err(e) => return Err(e),
        Ok(_) => println!("the file is still there after its delete!"),
    }
    accounts.delete(id).await?;
    println!("deleted the account");
    Ok(())
}

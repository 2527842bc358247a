//! The macro integration mode: `dynamics_entities!` generates the named tables at compile time,
//! with no build script. `cargo run --example macro_entities`.

use std::process::ExitCode;

use dynamics_examples::run_example;

/// Types for two standard tables; the metadata path is relative to this crate's Cargo.toml.
mod crm {
    dynamics_client::dynamics_entities! {
        metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
        entities = [account, contact],
    }
}
use crm::{Account, Contact, ContactParentcustomerid, EntitySets};

#[tokio::main]
async fn main() -> ExitCode {
    run_example(
        "macro_entities: types from dynamics_entities!, used to link a contact to an account.",
        async |environment| {
            let client = &environment.client;
            let account = client
                .accounts()
                .create(&Account {
                    name: Some("Adventure Works (macro example)".into()),
                    ..Default::default()
                })
                .await?;
            let mut contact = Contact {
                lastname: Some("Example".into()),
                ..Default::default()
            };
            contact.set_parentcustomerid(ContactParentcustomerid::Account(account));
            let contact = client.contacts().create(&contact).await?;
            let read = client
                .contacts()
                .retrieve_columns(contact, Contact::PARENTCUSTOMERID)
                .await?;
            println!(
                "contact {contact} belongs to account {}",
                read.parentcustomerid
                    .map(|id| id.to_string())
                    .unwrap_or_default()
            );
            client.contacts().delete(contact).await?;
            client.accounts().delete(account).await?;
            println!("deleted both");
            Ok(())
        },
    )
    .await
}

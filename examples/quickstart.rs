//! The main job of dynamics-rs: `cargo run --example quickstart`.
//!
//! An app's whole life with Dataverse in one run, with only the generated types and `Client`:
//! create an account and a contact linked to it, read them back with selected columns and
//! formatted values, update, query with a typed filter, page through a result, delete.
//! Offline on the embedded emulator by default; against a real environment when `DYNAMICS_URL`
//! and the `AZURE_*` variables are set (`--help`).

use std::process::ExitCode;

use dynamics_client::{Query, Result};
use dynamics_examples::{Environment, run_example};

// Typed Rust for the two standard tables the quickstart uses, from the sample metadata.
dynamics_client::dynamics_entities! {
    metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
    entities = [account, contact],
}

#[tokio::main]
async fn main() -> ExitCode {
    run_example(
        "quickstart: create, read, update, query, page and delete Dataverse records with generated types.",
        async |environment| {
            run(environment).await?;
            println!("done.");
            Ok(())
        },
    )
    .await
}

async fn run(environment: &Environment) -> Result<()> {
    let client = &environment.client;
    let run_tag = format!("dynamics-rs quickstart {}", std::process::id());

    // Create an account, then a contact whose company is that account.
    let account = Account {
        name: Some(format!("Contoso ({run_tag})")),
        telephone1: Some("+1 425 555 0100".into()),
        revenue: Some("1250000.50".parse().expect("a decimal literal")),
        numberofemployees: Some(120),
        ..Default::default()
    };
    let account_id = client.accounts().create(&account).await?;
    println!("created account {account_id}");

    let mut contact = Contact {
        firstname: Some("Ada".into()),
        lastname: Some(format!("Lovelace ({run_tag})")),
        emailaddress1: Some("ada@example.com".into()),
        ..Default::default()
    };
    contact.set_parentcustomerid(ContactParentcustomerid::Account(account_id));
    let contact_id = client.contacts().create(&contact).await?;
    println!("created contact {contact_id}, linked to the account");

    // Read them back: selected columns only, with formatted values.
    let read = client
        .accounts()
        .retrieve_annotated(account_id, (Account::NAME, Account::REVENUE))
        .await?;
    println!(
        "read account: name {:?}, revenue {} (shown as {:?})",
        read.record.name.as_deref().unwrap_or_default(),
        read.record
            .revenue
            .map(|r| r.to_string())
            .unwrap_or_default(),
        read.formatted(Account::REVENUE).unwrap_or("-"),
    );
    let read = client
        .contacts()
        .retrieve_annotated(contact_id, (Contact::FULLNAME, Contact::PARENTCUSTOMERID))
        .await?;
    println!(
        "read contact: parent customer {} ({}: {:?})",
        read.record
            .parentcustomerid
            .map(|id| id.to_string())
            .unwrap_or_default(),
        read.lookup_logical_name(Contact::PARENTCUSTOMERID)
            .unwrap_or("-"),
        read.formatted(Contact::PARENTCUSTOMERID).unwrap_or("-"),
    );

    // Update: only the fields set are sent.
    let changes = Account {
        telephone1: Some("+1 425 555 0199".into()),
        ..Default::default()
    };
    client.accounts().update(account_id, &changes).await?;
    let updated = client
        .accounts()
        .retrieve_columns(account_id, Account::TELEPHONE1)
        .await?;
    println!(
        "updated account telephone to {}",
        updated.telephone1.unwrap_or_default()
    );

    // Query with a typed filter: the value is encoded by the library, quotes and all.
    let found = client
        .contacts()
        .query(
            &Query::new()
                .select((Contact::FIRSTNAME, Contact::LASTNAME))
                .filter(Contact::LASTNAME.eq(format!("Lovelace ({run_tag})")))
                .filter(Contact::PARENTCUSTOMERID.eq(account_id)),
        )
        .await?;
    println!(
        "query found {} contact(s) of the account",
        found.items.len()
    );

    // Page through a result: a few more contacts, two per page.
    let mut extra = Vec::new();
    for i in 1..=5 {
        let mut c = Contact {
            firstname: Some(format!("Colleague {i}")),
            lastname: Some(format!("Lovelace ({run_tag})")),
            ..Default::default()
        };
        c.set_parentcustomerid(ContactParentcustomerid::Account(account_id));
        extra.push(client.contacts().create(&c).await?);
    }
    let query = Query::new()
        .select(Contact::FIRSTNAME)
        .filter(Contact::PARENTCUSTOMERID.eq(account_id))
        .order_by(Contact::FIRSTNAME.asc())
        .page_size(2);
    let mut page = client.contacts().query(&query).await?;
    let mut number = 1;
    loop {
        let names: Vec<&str> = page
            .items
            .iter()
            .filter_map(|c| c.firstname.as_deref())
            .collect();
        println!("page {number}: {}", names.join(", "));
        match client.contacts().next_page(&page, &query).await? {
            Some(next) => {
                page = next;
                number += 1;
            }
            None => break,
        }
    }

    // Clean up.
    let contacts = extra.len() + 1;
    for id in extra.into_iter().chain([contact_id]) {
        client.contacts().delete(id).await?;
    }
    client.accounts().delete(account_id).await?;
    println!("deleted the account and its {contacts} contacts");
    Ok(())
}

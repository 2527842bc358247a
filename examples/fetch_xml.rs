//! FetchXML from Rust: `cargo run --example fetch_xml`.
//!
//! Creates a few accounts, some with a primary contact, then asks three FetchXML questions:
//! the accounts with their contact's name (a `link-entity` join, decoded into a struct of your
//! own), the staff per contact (an aggregate with `groupby`), and every account again, two
//! per page, streamed as generated records. Offline on the embedded emulator by default;
//! against a real environment when `DYNAMICS_URL` and the `AZURE_*` variables are set
//! (`--help`).

use std::process::ExitCode;

use dynamics_client::Result;
use dynamics_examples::{Environment, run_example};
use futures::TryStreamExt;
use serde::Deserialize;

dynamics_client::dynamics_entities! {
    metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
    entities = [account, contact],
}

/// One row of the join: the account's name and columns of its primary contact. A linked
/// column is named `alias.column` unless the query gives it an alias of its own.
#[derive(Debug, Deserialize)]
struct AccountWithContact {
    name: String,
    #[serde(rename = "pc.lastname")]
    contact_last_name: Option<String>,
    #[serde(rename = "firstname")]
    contact_first_name: Option<String>,
}

/// One row of the aggregate: a property per attribute alias.
#[derive(Debug, Deserialize)]
struct StaffByContact {
    contact: Option<String>,
    accounts: i64,
    staff: Option<i64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    run_example(
        "fetch_xml: a join, an aggregate and paging with FetchXML, decoded into Rust types.",
        async |environment| run(environment).await,
    )
    .await
}

async fn run(environment: &Environment) -> Result<()> {
    let client = &environment.client;
    // Every name carries the run's tag, and every query filters on it, so that a real
    // environment's other records stay out of the answers.
    let tag = format!("dynamics-rs fetch_xml {}", std::process::id());

    let contact = Contact {
        firstname: Some("Ann".into()),
        lastname: Some(format!("Ames ({tag})")),
        ..Default::default()
    };
    let contact_id = client.contacts().create(&contact).await?;
    let mut accounts = Vec::new();
    for (name, staff, with_contact) in [("Alpha", 10, true), ("Beta", 5, true), ("Gamma", 7, false)]
    {
        let mut account = Account {
            name: Some(format!("{name} ({tag})")),
            numberofemployees: Some(staff),
            ..Default::default()
        };
        if with_contact {
            account.set_primarycontactid(contact_id);
        }
        accounts.push(client.accounts().create(&account).await?);
    }
    println!("created {} accounts and 1 contact", accounts.len());

    // Values inside FetchXML are XML attribute values: escape what the tag could hold.
    let like = xml_escape(&format!("%({tag})"));

    // A join: each account with its primary contact's names, when it has one.
    let joined = client
        .fetch_xml_as::<Account, AccountWithContact>(&format!(
            r#"<fetch><entity name="account">
                 <attribute name="name"/>
                 <filter><condition attribute="name" operator="like" value="{like}"/></filter>
                 <order attribute="name"/>
                 <link-entity name="contact" from="contactid" to="primarycontactid" link-type="outer" alias="pc">
                   <attribute name="lastname"/>
                   <attribute name="firstname" alias="firstname"/>
                 </link-entity>
               </entity></fetch>"#
        ))
        .await?;
    for row in &joined.items {
        let contact = match (&row.contact_first_name, &row.contact_last_name) {
            (Some(first), Some(last)) => format!("{first} {last}"),
            _ => "no primary contact".to_owned(),
        };
        println!("join: {} -> {contact}", row.name);
    }

    // An aggregate: how many accounts, and how many employees, per primary contact.
    let totals = client
        .fetch_xml_as::<Account, StaffByContact>(&format!(
            r#"<fetch aggregate="true"><entity name="account">
                 <attribute name="accountid" alias="accounts" aggregate="count"/>
                 <attribute name="numberofemployees" alias="staff" aggregate="sum"/>
                 <filter><condition attribute="name" operator="like" value="{like}"/></filter>
                 <link-entity name="contact" from="contactid" to="primarycontactid" link-type="outer" alias="pc">
                   <attribute name="lastname" alias="contact" groupby="true"/>
                 </link-entity>
                 <order alias="staff" descending="true"/>
               </entity></fetch>"#
        ))
        .await?;
    for row in &totals.items {
        println!(
            "aggregate: {} -> {} account(s), {} employees",
            row.contact.as_deref().unwrap_or("no primary contact"),
            row.accounts,
            row.staff.unwrap_or_default(),
        );
    }

    // Paging: two records per page, the paging cookie handled by the client.
    let names: Vec<String> = client
        .fetch_xml_stream::<Account>(&format!(
            r#"<fetch count="2"><entity name="account">
                 <attribute name="name"/>
                 <filter><condition attribute="name" operator="like" value="{like}"/></filter>
                 <order attribute="name" descending="true"/>
               </entity></fetch>"#
        ))
        .map_ok(|account| account.name.unwrap_or_default())
        .try_collect()
        .await?;
    println!("streamed {} accounts: {}", names.len(), names.join(", "));

    for id in accounts {
        client.accounts().delete(id).await?;
    }
    client.contacts().delete(contact_id).await?;
    println!("deleted the accounts and the contact");
    Ok(())
}

/// `text` as an XML attribute value between double quotes.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

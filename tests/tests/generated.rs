//! Generated types against the emulator over real HTTP, the way an app uses them: create with
//! lookups, retrieve with selected columns and formatted values, update, typed queries, paging,
//! clearing a lookup, delete.

use dynamics_client::__private::rust_decimal::Decimal;
use dynamics_client::__private::time::{Date, Month};
use dynamics_client::{Client, Error, Query};
use dynamics_emulator::Emulator;
use dynamics_tests::built::{
    Account, Contact, ContactParentcustomerid, EntitySets, NewProject, NewProjectNewCustomerid,
};
use dynamics_tests::from_macro::nested;

mod support;

struct Env {
    emulator: Emulator,
    client: Client,
}

async fn start() -> Env {
    let (emulator, client) = support::start(|builder| builder).await;
    Env { emulator, client }
}

#[tokio::test]
async fn crud_with_generated_types() {
    let Env { emulator, client } = start().await;

    let account = Account {
        name: Some("Contoso".into()),
        revenue: Some("1234567890123.4567".parse().unwrap()),
        numberofemployees: Some(250),
        ..Default::default()
    };
    let account_id = client.accounts().create(&account).await.unwrap();

    let mut contact = Contact {
        firstname: Some("Ada".into()),
        lastname: Some("Lovelace".into()),
        birthdate: Some(Date::from_calendar_date(1815, Month::December, 10).unwrap()),
        ..Default::default()
    };
    contact.set_parentcustomerid(ContactParentcustomerid::Account(account_id));
    let contact_id = client.contacts().create(&contact).await.unwrap();

    // What the emulator stored: exact money, the lookup set through the exact navigation
    // property, the date as a date.
    let stored = emulator.record("accounts", account_id).unwrap();
    assert_eq!(stored["revenue"].to_string(), "1234567890123.4567");
    let stored = emulator.record("contacts", contact_id).unwrap();
    assert_eq!(stored["_parentcustomerid_value"], account_id.to_string());
    assert_eq!(stored["birthdate"], "1815-12-10");

    // Retrieve with selected columns and annotations.
    let read = client
        .contacts()
        .retrieve_annotated(contact_id, (Contact::LASTNAME, Contact::PARENTCUSTOMERID))
        .await
        .unwrap();
    assert_eq!(read.record.lastname.as_deref(), Some("Lovelace"));
    assert_eq!(read.record.firstname, None, "not selected");
    assert_eq!(read.record.parentcustomerid, Some(account_id));
    assert_eq!(
        read.lookup_logical_name(Contact::PARENTCUSTOMERID),
        Some("account")
    );
    assert_eq!(read.formatted(Contact::PARENTCUSTOMERID), Some("Contoso"));

    let full = client.accounts().retrieve(account_id).await.unwrap();
    assert_eq!(
        full.revenue,
        Some("1234567890123.4567".parse::<Decimal>().unwrap())
    );
    assert!(full.etag.is_some());

    // Update sends only what was touched.
    let changes = Account {
        telephone1: Some("+44 20 7946 0000".into()),
        ..Default::default()
    };
    client
        .accounts()
        .update(account_id, &changes)
        .await
        .unwrap();
    let after = client.accounts().retrieve(account_id).await.unwrap();
    assert_eq!(after.telephone1.as_deref(), Some("+44 20 7946 0000"));
    assert_eq!(after.name.as_deref(), Some("Contoso"));

    // Clearing a lookup is its own call.
    client
        .contacts()
        .clear_lookup(contact_id, Contact::PARENTCUSTOMERID)
        .await
        .unwrap();
    let cleared = client.contacts().retrieve(contact_id).await.unwrap();
    assert_eq!(cleared.parentcustomerid, None);

    client.contacts().delete(contact_id).await.unwrap();
    match client.contacts().retrieve(contact_id).await {
        Err(Error::NotFound { .. }) => {}
        other => panic!("expected not found, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_queries_and_paging() {
    let Env {
        client,
        emulator: _running,
    } = start().await;
    for i in 0..7 {
        let account = Account {
            name: Some(format!("Fabrikam {i}")),
            numberofemployees: Some(i * 10),
            ..Default::default()
        };
        client.accounts().create(&account).await.unwrap();
    }
    // A name that would break a hand-written filter.
    let tricky = Account {
        name: Some("O'Neil & Sons #1".into()),
        ..Default::default()
    };
    client.accounts().create(&tricky).await.unwrap();

    let query = Query::new()
        .select((Account::NAME, Account::NUMBEROFEMPLOYEES))
        .filter(Account::NAME.starts_with("Fabrikam"))
        .filter(Account::NUMBEROFEMPLOYEES.ge(20))
        .order_by(Account::NUMBEROFEMPLOYEES.desc())
        .page_size(2);
    let mut page = client.accounts().query(&query).await.unwrap();
    let mut names = Vec::new();
    let mut pages = 1;
    loop {
        assert!(page.items.len() <= 2);
        names.extend(page.items.iter().filter_map(|a| a.name.clone()));
        match client.accounts().next_page(&page, &query).await.unwrap() {
            Some(next) => {
                page = next;
                pages += 1;
            }
            None => break,
        }
    }
    assert_eq!(
        names,
        [
            "Fabrikam 6",
            "Fabrikam 5",
            "Fabrikam 4",
            "Fabrikam 3",
            "Fabrikam 2"
        ]
    );
    assert_eq!(pages, 3);

    let exact = client
        .accounts()
        .query(&Query::new().filter(Account::NAME.eq("O'Neil & Sons #1")))
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 1);
    let injected = client
        .accounts()
        .query(&Query::new().filter(Account::NAME.eq("x' or name ne 'zz")))
        .await
        .unwrap();
    assert!(injected.items.is_empty(), "the filter kept its shape");
}

#[tokio::test]
async fn custom_table_polymorphic_lookup_and_macro_types() {
    let Env { emulator, client } = start().await;
    let contact_id = client
        .contacts()
        .create(&Contact {
            lastname: Some("Hopper".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut project = NewProject {
        new_name: Some("Apollo".into()),
        new_code: Some("AP-11".into()),
        new_budget: Some("25000.50".parse().unwrap()),
        new_isbillable: Some(true),
        new_document: Some(vec![0, 1, 2, 255]),
        ..Default::default()
    };
    // Set to an account first, then to a contact: only the last target is sent.
    project.set_new_customerid(NewProjectNewCustomerid::Account(contact_id));
    project.set_new_customerid(NewProjectNewCustomerid::Contact(contact_id));
    let id = client.new_projects().create(&project).await.unwrap();
    let stored = emulator.record("new_projects", id).unwrap();
    assert_eq!(stored["_new_customerid_value"], contact_id.to_string());
    assert_eq!(stored["new_document"], "AAEC/w==");

    // The macro's types are the same shape and talk to the same service.
    let read: nested::NewProject = nested::EntitySets::new_projects(&client)
        .retrieve(id)
        .await
        .unwrap();
    assert_eq!(read.new_document, Some(vec![0, 1, 2, 255]));
    assert_eq!(read.new_customerid, Some(contact_id));
}

#[tokio::test]
async fn optimistic_concurrency_with_the_record_etag() {
    let Env {
        client,
        emulator: _running,
    } = start().await;
    let id = client
        .accounts()
        .create(&Account {
            name: Some("Versioned".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let read = client.accounts().retrieve(id).await.unwrap();
    let first = Account {
        telephone1: Some("1".into()),
        ..Default::default()
    };
    client
        .accounts()
        .update_if_unchanged(&read, &first)
        .await
        .unwrap();
    // The record changed since `read`: the same update is now a typed conflict.
    match client.accounts().update_if_unchanged(&read, &first).await {
        Err(Error::ConcurrencyConflict { .. }) => {}
        other => panic!("expected a concurrency conflict, got {other:?}"),
    }
}

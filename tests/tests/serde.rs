//! Generated records against Dataverse-shaped JSON: annotations, nulls, lookups, money as exact
//! numbers, dates; and back.

use dynamics_client::__private::rust_decimal::Decimal;
use dynamics_client::__private::serde_json::{self, json};
use dynamics_client::__private::time::{Date, Month, OffsetDateTime};
use dynamics_client::__private::uuid::Uuid;
use dynamics_tests::awkward;
use dynamics_tests::built::{Account, Contact, ContactParentcustomerid, NewProject};

#[test]
fn reads_a_dataverse_answer() {
    // As the Web API answers with `Prefer: odata.include-annotations="*"`.
    let body = r#"{
        "@odata.context": "https://contoso.crm.dynamics.com/api/data/v9.2/$metadata#accounts/$entity",
        "@odata.etag": "W/\"4567123\"",
        "accountid": "5531d753-95af-e711-a94e-000d3a11e605",
        "name": "Contoso, Ltd.",
        "revenue": 1234567890123.4567,
        "revenue@OData.Community.Display.V1.FormattedValue": "$1,234,567,890,123.46",
        "numberofemployees": null,
        "creditonhold": false,
        "createdon": "2024-03-01T09:15:00Z",
        "_parentaccountid_value": "00000000-0000-0000-0000-000000000001",
        "_parentaccountid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "account",
        "_parentaccountid_value@OData.Community.Display.V1.FormattedValue": "Contoso Holdings",
        "some_column_added_later": 42
    }"#;
    let account: Account = serde_json::from_str(body).unwrap();
    assert_eq!(
        account.accountid,
        Some(
            "5531d753-95af-e711-a94e-000d3a11e605"
                .parse::<Uuid>()
                .unwrap()
        )
    );
    assert_eq!(account.name.as_deref(), Some("Contoso, Ltd."));
    assert_eq!(
        account.revenue,
        Some("1234567890123.4567".parse::<Decimal>().unwrap()),
        "money keeps every digit"
    );
    assert_eq!(account.numberofemployees, None);
    assert_eq!(account.creditonhold, Some(false));
    assert_eq!(
        account.createdon,
        Some(OffsetDateTime::from_unix_timestamp(1_709_284_500).unwrap())
    );
    assert_eq!(account.parentaccountid, Some(Uuid::from_u128(1)));
    assert_eq!(account.etag.as_deref(), Some("W/\"4567123\""));
}

#[test]
fn writes_only_what_is_set_and_never_read_only_members() {
    let mut contact = Contact {
        lastname: Some("O'Neil".into()),
        birthdate: Some(Date::from_calendar_date(1990, Month::January, 31).unwrap()),
        parentcustomerid: Some(Uuid::from_u128(7)), // read-only: must not be sent
        etag: Some("W/\"1\"".into()),               // read-only: must not be sent
        ..Default::default()
    };
    contact.set_parentcustomerid(ContactParentcustomerid::Contact(Uuid::from_u128(9)));
    let value = serde_json::to_value(&contact).unwrap();
    assert_eq!(
        value,
        json!({"lastname": "O'Neil", "birthdate": "1990-01-31"}),
        "binds travel beside the record, added by the client"
    );

    let project = NewProject {
        new_budget: Some("0.10".parse().unwrap()),
        new_hours: Some(1.5),
        new_document: Some(b"pdf".to_vec()),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_string(&project).unwrap(),
        r#"{"new_budget":0.10,"new_hours":1.5,"new_document":"cGRm"}"#
    );
}

#[test]
fn round_trips_records_and_awkward_names() {
    let project = NewProject {
        new_name: Some("Apollo".into()),
        new_budget: Some("25000.5".parse().unwrap()),
        new_startdate: Some(Date::from_calendar_date(2025, Month::June, 1).unwrap()),
        new_deadline: Some(OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap()),
        new_isbillable: Some(true),
        ..Default::default()
    };
    let text = serde_json::to_string(&project).unwrap();
    let back: NewProject = serde_json::from_str(&text).unwrap();
    assert_eq!(back, project);

    let body = json!({
        "resultid": "00000000-0000-0000-0000-000000000002",
        "type": "kind of thing",
        "self": "me",
        "abstract": 3,
        "1stplace": true,
        "feedbackid": "00000000-0000-0000-0000-000000000003",
        "FeedbackId": "00000000-0000-0000-0000-000000000004",
        "etag": "a column called etag",
        "@odata.etag": "W/\"9\"",
        "solution": {"type": "managed", "kind": "Self"},
        "kind": "2nd",
        "flags": "A,B",
        "tags": ["x", "y"]
    });
    let record: awkward::Result = serde_json::from_value(body).unwrap();
    assert_eq!(record.type_.as_deref(), Some("kind of thing"));
    assert_eq!(record._1stplace, Some(true));
    assert_eq!(record.feedbackid, Some(Uuid::from_u128(3)));
    assert_eq!(record.feedback_id, Some(Uuid::from_u128(4)));
    assert_eq!(record.etag_2.as_deref(), Some("a column called etag"));
    assert_eq!(record.etag.as_deref(), Some("W/\"9\""));
    assert_eq!(
        record.solution.as_ref().and_then(|s| s.kind),
        Some(awkward::enum_types::Kind::Self2)
    );
    assert_eq!(record.kind, Some(awkward::enum_types::Kind::_2nd));
    assert_eq!(record.flags.as_deref(), Some("A,B"));
    let again: awkward::Result =
        serde_json::from_value(serde_json::to_value(&record).unwrap()).unwrap();
    assert_eq!(again.type_, record.type_);
    assert_eq!(again.kind, record.kind);
}

#[test]
fn wrong_types_are_decode_errors_naming_the_field() {
    let error = serde_json::from_str::<Account>(r#"{"numberofemployees": "many"}"#).unwrap_err();
    assert!(error.to_string().contains("invalid type"), "{error}");
    let error = serde_json::from_str::<Contact>(r#"{"birthdate": "31/01/1990"}"#).unwrap_err();
    assert!(error.to_string().contains("invalid date"), "{error}");
}

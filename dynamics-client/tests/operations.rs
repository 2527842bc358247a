//! Actions, functions and FetchXML against dynamics-emulator: untyped calls bound and unbound,
//! a hand-written typed operation, and FetchXML paged through the paging cookie (which the
//! emulator reads, so a cookie sent back wrong would show).
//!
//! One test keeps a scripted stub: it checks the request lines exactly as they go on the wire
//! (parameter aliases as percent-encoded, a namespace other than `Microsoft.Dynamics.CRM`),
//! which the emulator decodes and resolves against its metadata before anything could look at
//! them.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};

use dynamics_client::{
    Entity,
    operations::{Call, FunctionParameters, Operation, Unbound, record_odata_id, record_reference},
};
use dynamics_emulator::{ActionError, OperationCall};
use futures::TryStreamExt as _;
use serde::Deserialize;
use serde_json::{Value, json};
use support::emulated::{start, start_with};
use support::stub::{Reply, Stub};
use support::{Account, Contact, WhoAmI, named};
use uuid::Uuid;

/// A `systemuser` record, as far as these tests need one.
#[derive(Debug, Default, serde::Serialize, Deserialize)]
struct SystemUser {
    #[serde(rename = "systemuserid", skip_serializing_if = "Option::is_none")]
    id: Option<Uuid>,
}

impl Entity for SystemUser {
    const LOGICAL_NAME: &'static str = "systemuser";
    const ENTITY_SET_NAME: &'static str = "systemusers";
    const PRIMARY_KEY: &'static str = "systemuserid";
    fn id(&self) -> Option<Uuid> {
        self.id
    }
}

#[tokio::test]
async fn who_am_i_through_call_function() {
    let env = start().await;
    let (client, _) = env.client();
    let me: WhoAmI = client
        .call_function("WhoAmI", &FunctionParameters::new())
        .await
        .unwrap();
    assert!(!me.user_id.is_nil());
}

/// The calls the emulator's handlers saw: name, entity set, parameters.
type Seen = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

fn recorder(seen: &Seen) -> impl Fn(&OperationCall) + use<> {
    let seen = seen.clone();
    move |call| {
        seen.lock().unwrap().push((
            call.name.clone(),
            call.entity_set.clone(),
            Value::Object(call.parameters.clone()),
        ))
    }
}

#[tokio::test]
async fn actions_and_functions_bound_and_unbound() {
    let seen = Seen::default();
    let (merge, rate, zone, access) = (
        recorder(&seen),
        recorder(&seen),
        recorder(&seen),
        recorder(&seen),
    );
    let env = start_with(|b| {
        b.action("Merge", move |call| {
            merge(call);
            Ok(Value::Null)
        })
        .action("new_Rate", move |call| {
            rate(call);
            Ok(json!(7))
        })
        .action("GetTimeZoneCodeByLocalizedName", move |call| {
            zone(call);
            match call.parameters["LocaleId"].as_i64() {
                Some(1033) => Ok(json!({"TimeZoneCode": 4})),
                _ => Err(ActionError::new(
                    404,
                    "0x80040217",
                    "No time zone for this locale.",
                )),
            }
        })
        .action("RetrievePrincipalAccess", move |call| {
            access(call);
            Ok(json!({"AccessRights": "ReadAccess"}))
        })
    })
    .await;
    let (client, _) = env.client();
    let account = client.create(&named("Contoso")).await.unwrap();
    let other = client.create(&named("Fabrikam")).await.unwrap();
    let me: WhoAmI = client.get("WhoAmI()").await.unwrap();

    // Unbound action without a return type: 204, read as null.
    let answer = client
        .call_action(
            "Merge",
            &json!({
                "Target": record_reference::<Account>(account),
                "Subordinate": record_reference::<Account>(other),
                "PerformParentingChecks": false,
            }),
        )
        .await
        .unwrap();
    assert!(answer.is_null());
    // Bound action with a primitive answer, which comes under `value`.
    let answer = client
        .call_bound_action::<Account>(
            Some(account),
            "new_Rate",
            &json!({"Weight": 2.5, "RatedOn": "2024-05-01T08:30:00Z"}),
        )
        .await
        .unwrap();
    assert_eq!(answer["value"], 7);
    // Unbound function with parameter aliases; the service's refusal is typed.
    let params = FunctionParameters::new()
        .with("LocalizedStandardName", "Pacific Standard Time")
        .unwrap()
        .with("LocaleId", 1033)
        .unwrap();
    let zone: Value = client
        .call_function("GetTimeZoneCodeByLocalizedName", &params)
        .await
        .unwrap();
    assert_eq!(zone["TimeZoneCode"], 4);
    let params = FunctionParameters::new()
        .with("LocalizedStandardName", "x")
        .unwrap()
        .with("LocaleId", 1)
        .unwrap();
    let refused = client
        .call_function::<Value>("GetTimeZoneCodeByLocalizedName", &params)
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(404), "{refused}");
    // Bound function with an entity parameter, both ways of writing it.
    let params = FunctionParameters::new()
        .with_record::<Account>("Target", account)
        .unwrap();
    let access: Value = client
        .call_bound_function::<SystemUser, _>(me.user_id, "RetrievePrincipalAccess", &params)
        .await
        .unwrap();
    assert_eq!(access["AccessRights"], "ReadAccess");
    let params = FunctionParameters::new()
        .with_json("Target", &record_odata_id::<Account>(account))
        .unwrap();
    let _: Value = client
        .call_bound_function::<SystemUser, _>(me.user_id, "RetrievePrincipalAccess", &params)
        .await
        .unwrap();

    // What the service saw: parameters decoded, the binding parameter from the URL.
    let seen = seen.lock().unwrap().clone();
    let reference =
        |id: Uuid| json!({"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": id});
    assert_eq!(
        seen[0],
        (
            "Merge".to_owned(),
            None,
            json!({"Target": reference(account), "Subordinate": reference(other), "PerformParentingChecks": false})
        )
    );
    assert_eq!(seen[1].0, "new_Rate");
    assert_eq!(seen[1].1.as_deref(), Some("accounts"));
    assert_eq!(
        seen[2].2,
        json!({"LocalizedStandardName": "Pacific Standard Time", "LocaleId": 1033})
    );
    let target = json!({"@odata.id": format!("accounts({account})")});
    assert_eq!(seen[4].1.as_deref(), Some("systemusers"));
    assert_eq!(seen[4].2, json!({ "Target": target }));
    assert_eq!(
        seen[5].2, seen[4].2,
        "with_record and record_odata_id agree"
    );
    assert_eq!(seen.len(), 6);

    // The service checks parameters against the metadata; names that could change the path
    // are refused before sending.
    let wrong = client
        .call_bound_action::<Account>(Some(account), "new_Rate", &json!({"Weight": "heavy"}))
        .await
        .unwrap_err();
    assert_eq!(wrong.status(), Some(400), "{wrong}");
    let unknown = client
        .call_action("NoSuchAction", &json!({}))
        .await
        .unwrap_err();
    assert_eq!(unknown.status(), Some(404), "{unknown}");
    assert!(client.call_action("a/../b", &json!({})).await.is_err());
    assert!(
        client
            .call_function::<Value>("Microsoft.Dynamics.CRM.WhoAmI", &FunctionParameters::new())
            .await
            .is_err()
    );
}

/// `GetTimeZoneCodeByLocalizedName`, typed by hand as generated code does it.
struct TimeZoneByName<'a> {
    name: &'a str,
    locale: i32,
}

#[derive(Debug, Deserialize)]
struct TimeZone {
    #[serde(rename = "TimeZoneCode")]
    code: i32,
}

impl Operation for TimeZoneByName<'_> {
    const NAME: &'static str = "GetTimeZoneCodeByLocalizedName";
    type Binding = Unbound;
    type Response = TimeZone;
    fn call(&self) -> dynamics_client::Result<Call> {
        let parameters = FunctionParameters::new()
            .with("LocalizedStandardName", self.name)?
            .with("LocaleId", self.locale)?;
        Ok(Call::function(parameters))
    }
}

#[tokio::test]
async fn typed_operation_written_by_hand() {
    let env = start_with(|b| {
        b.action("GetTimeZoneCodeByLocalizedName", |call| {
            let name = call.parameters["LocalizedStandardName"].as_str().unwrap();
            Ok(json!({"TimeZoneCode": name.len()}))
        })
    })
    .await;
    let (client, _) = env.client();
    let zone = client
        .execute(&TimeZoneByName {
            name: "O'Neil & Co",
            locale: 1033,
        })
        .await
        .unwrap();
    assert_eq!(zone.code, 11);
}

#[tokio::test]
async fn fetch_xml_pages_with_the_paging_cookie() {
    let env = start().await;
    let (client, _) = env.client();
    for name in ["e", "a&x", "c", "b", "d&x"] {
        client.create(&named(name)).await.unwrap();
    }
    // Pages of two, the cookie of each sent back with the next; the emulator reads on from the
    // cookie's last key, so the order proves the cookie made the round trip intact.
    let fetch = r#"<fetch count="2"><entity name="account"><attribute name="name"/><order attribute="name"/></entity></fetch>"#;
    let names: Vec<String> = client
        .fetch_xml_stream::<Account>(fetch)
        .map_ok(|a| a.name.unwrap_or_default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(names, ["a&x", "b", "c", "d&x", "e"]);
    let pages: Vec<usize> = client
        .fetch_xml_pages::<Account>(fetch)
        .map_ok(|page| page.items.len())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages, [2, 2, 1]);

    // A filter with XML escapes, the first page alone, and a query on another table refused
    // before sending.
    let filtered = r#"<fetch count="1"><entity name="account"><attribute name="name"/><order attribute="name" descending="true"/><filter><condition attribute="name" operator="like" value="%&amp;x"/></filter></entity></fetch>"#;
    let page = client.fetch_xml::<Account>(filtered).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].name.as_deref(), Some("d&x"));
    let all: Vec<Account> = client
        .fetch_xml_stream::<Account>(filtered)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let err = client
        .fetch_xml::<Account>("<fetch><entity name=\"contact\"/></fetch>")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not on `account`"), "{err}");
}

/// A row of accounts joined to their primary contact, and of an aggregate over them.
#[derive(Debug, Deserialize, PartialEq)]
struct AccountAndContact {
    name: String,
    #[serde(rename = "pc.lastname")]
    contact: Option<String>,
    #[serde(rename = "firstname")]
    first: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct StaffByContact {
    who: Option<String>,
    accounts: u32,
    staff: Option<i64>,
}

#[tokio::test]
async fn fetch_xml_linked_and_aggregated_rows_decode_into_typed_structs() {
    let env = start().await;
    let (client, _) = env.client();
    let ames = client
        .create(&Contact {
            lastname: Some("Ames".into()),
            firstname: Some("Ann".into()),
            ..Contact::default()
        })
        .await
        .unwrap();
    for (name, staff, contact) in [("A", 10, Some(ames)), ("B", 5, Some(ames)), ("C", 7, None)] {
        let account = Account {
            name: Some(name.into()),
            numberofemployees: Some(staff),
            set_primary_contact: contact.map(|id| format!("/contacts({id})")),
            ..Account::default()
        };
        client.create(&account).await.unwrap();
    }

    let joined: Vec<AccountAndContact> = client
        .fetch_xml_pages_as::<Account, AccountAndContact>(
            r#"<fetch count="2"><entity name="account"><attribute name="name"/><order attribute="name"/>
                 <link-entity name="contact" from="contactid" to="primarycontactid" link-type="outer" alias="pc">
                   <attribute name="lastname"/><attribute name="firstname" alias="firstname"/>
                 </link-entity></entity></fetch>"#,
        )
        .map_ok(|page| futures::stream::iter(page.items.into_iter().map(Ok::<_, dynamics_client::Error>)))
        .try_flatten()
        .try_collect()
        .await
        .unwrap();
    let row = |name: &str, contact: Option<&str>, first: Option<&str>| AccountAndContact {
        name: name.into(),
        contact: contact.map(Into::into),
        first: first.map(Into::into),
    };
    assert_eq!(
        joined,
        [
            row("A", Some("Ames"), Some("Ann")),
            row("B", Some("Ames"), Some("Ann")),
            row("C", None, None)
        ]
    );

    let totals = client
        .fetch_xml_as::<Account, StaffByContact>(
            r#"<fetch aggregate="true"><entity name="account">
                 <attribute name="accountid" alias="accounts" aggregate="count"/>
                 <attribute name="numberofemployees" alias="staff" aggregate="sum"/>
                 <link-entity name="contact" from="contactid" to="primarycontactid" link-type="outer" alias="pc">
                   <attribute name="lastname" alias="who" groupby="true"/>
                 </link-entity>
                 <order alias="staff" descending="true"/></entity></fetch>"#,
        )
        .await
        .unwrap();
    assert_eq!(
        totals.items,
        [
            StaffByContact {
                who: Some("Ames".into()),
                accounts: 2,
                staff: Some(15)
            },
            StaffByContact {
                who: None,
                accounts: 1,
                staff: Some(7)
            },
        ]
    );
}

/// The stub: the exact request lines, which the emulator cannot show.
#[tokio::test]
async fn request_lines_on_the_wire() {
    let stub = Stub::start(
        |request| match (request.method.as_str(), request.path.as_str()) {
            ("POST", p) if p.ends_with("/WinOpportunity") => Reply::new(204),
            ("POST", _) => Reply::json(
                200,
                r#"{"QueueItemId":"00000000-0000-0000-0000-000000000009"}"#,
            ),
            _ => Reply::json(200, r#"{"value":4}"#),
        },
    )
    .await;
    let client = stub.client();
    let id = Uuid::from_u128(5);

    client
        .call_action("WinOpportunity", &json!({"Status": 3}))
        .await
        .unwrap();
    client
        .call_bound_action::<Account>(None, "contoso.Export", &json!({}))
        .await
        .unwrap();
    let params = FunctionParameters::new()
        .with("LocalizedStandardName", "Pacific Standard Time")
        .unwrap()
        .with("LocaleId", 1033)
        .unwrap();
    let _: Value = client
        .call_function("GetTimeZoneCodeByLocalizedName", &params)
        .await
        .unwrap();
    let params = FunctionParameters::new()
        .with_record::<Account>("Target", id)
        .unwrap();
    let _: Value = client
        .call_bound_function::<Account, _>(id, "RetrievePrincipalAccess", &params)
        .await
        .unwrap();

    let requests = stub.requests();
    let lines: Vec<String> = requests
        .iter()
        .map(|r| {
            format!(
                "{} {}{}",
                r.method,
                r.path.trim_start_matches("/api/data/v9.2/"),
                r.query
                    .as_deref()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "POST WinOpportunity".to_owned(),
            "POST accounts/contoso.Export".to_owned(),
            "GET GetTimeZoneCodeByLocalizedName(LocalizedStandardName=@p1,LocaleId=@p2)?@p1=%27Pacific%20Standard%20Time%27&@p2=1033".to_owned(),
            format!("GET accounts({id})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@p1)?@p1=%7B%27%40odata.id%27:%27accounts({id})%27%7D"),
        ]
    );
    assert_eq!(requests[0].body, r#"{"Status":3}"#);
}

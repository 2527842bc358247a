//! Typed actions and functions, generated from the sample metadata, against the emulator:
//! unbound (`WhoAmI`, a function with parameters, an action), bound to a record (an action
//! answering a primitive, an overloaded function) and bound to an entity set (a function
//! answering records).

use std::sync::{Arc, Mutex};

use dynamics_client::__private::rust_decimal::Decimal;
use dynamics_client::__private::serde_json::{Value, json};
use dynamics_client::__private::time::OffsetDateTime;
use dynamics_client::__private::uuid::Uuid;
use dynamics_client::{
    Client,
    operations::{record_odata_id, record_reference},
};
use dynamics_emulator::{ActionError, Emulator, OperationCall};
use dynamics_tests::built::operations::{
    GetTimeZoneCodeByLocalizedName, Merge, NewCloseProject, NewRate, NewTopAccounts,
    RetrievePrincipalAccessSystemuser, WhoAmI,
};
use dynamics_tests::built::{Account, EntitySets, NewProject};

mod support;

/// Every call a handler saw: the operation, its bound record's set and its parameters.
type Calls = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

async fn start(calls: Calls) -> (Emulator, Client) {
    let record = |calls: &Calls, call: &OperationCall| {
        calls.lock().unwrap().push((
            call.name.clone(),
            call.entity_set.clone(),
            Value::Object(call.parameters.clone()),
        ));
    };
    support::start(move |builder| {
        let (a, b, c, d, e, f) = (
            calls.clone(),
            calls.clone(),
            calls.clone(),
            calls.clone(),
            calls.clone(),
            calls,
        );
        builder
            .action("GetTimeZoneCodeByLocalizedName", move |call| {
                record(&a, call);
                match call.parameters["LocalizedStandardName"].as_str() {
                    Some("Pacific Standard Time") => Ok(json!({"TimeZoneCode": 4})),
                    _ => Err(ActionError::bad_request("No such time zone.")),
                }
            })
            .action("new_Rate", move |call| {
                record(&b, call);
                let name = call.record.as_ref().and_then(|r| r["name"].as_str());
                Ok(json!(if name == Some("Contoso") { 42 } else { 0 }))
            })
            .action("new_TopAccounts", move |call| {
                record(&c, call);
                Ok(json!([
                    {"accountid": "00000000-0000-4000-8000-0000000000a1", "name": "Big", "revenue": 5000000.25},
                    {"accountid": "00000000-0000-4000-8000-0000000000a2", "name": "Bigger"},
                ]))
            })
            .action("RetrievePrincipalAccess", move |call| {
                record(&d, call);
                Ok(json!({"AccessRights": "ReadAccess, WriteAccess"}))
            })
            .action("Merge", move |call| {
                record(&e, call);
                Ok(Value::Null)
            })
            .action("new_CloseProject", move |call| {
                record(&f, call);
                Ok(Value::Null)
            })
    })
    .await
}

async fn account(client: &Client, name: &str) -> Uuid {
    let account = Account {
        name: Some(name.into()),
        ..Default::default()
    };
    client.accounts().create(&account).await.unwrap()
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

#[tokio::test]
async fn unbound_function_and_action() {
    let calls = Calls::default();
    let (_emulator, client) = start(calls.clone()).await;

    let me = client.execute(&WhoAmI).await.unwrap();
    assert!(me.user_id.is_some_and(|id| !id.is_nil()), "{me:?}");
    assert!(me.business_unit_id.is_some());

    let zone = client
        .execute(&GetTimeZoneCodeByLocalizedName {
            localized_standard_name: "Pacific Standard Time".into(),
            locale_id: 1033,
        })
        .await
        .unwrap();
    assert_eq!(zone.time_zone_code, Some(4));
    // The handler's refusal comes back as a typed service error; a quote in a parameter
    // stays inside its alias.
    let refused = client
        .execute(&GetTimeZoneCodeByLocalizedName {
            localized_standard_name: "O'Neil')&@p2=1".into(),
            locale_id: 1033,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(400), "{refused}");

    let target = account(&client, "Target").await;
    let subordinate = account(&client, "Subordinate").await;
    let merged: () = client
        .execute(&Merge {
            target: record_reference::<Account>(target),
            subordinate: record_reference::<Account>(subordinate),
            update_content: None,
            perform_parenting_checks: false,
        })
        .await
        .unwrap();
    assert_eq!(merged, ());

    let calls = calls.lock().unwrap().clone();
    let names: Vec<&str> = calls.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "GetTimeZoneCodeByLocalizedName",
            "GetTimeZoneCodeByLocalizedName",
            "Merge"
        ]
    );
    assert_eq!(
        calls[0].2,
        json!({"LocalizedStandardName": "Pacific Standard Time", "LocaleId": 1033})
    );
    assert_eq!(calls[1].2["LocalizedStandardName"], "O'Neil')&@p2=1");
    assert_eq!(
        calls[2].2,
        json!({
            "Target": {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": target.to_string()},
            "Subordinate": {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": subordinate.to_string()},
            "PerformParentingChecks": false,
        }),
        "an optional parameter left as None is not sent"
    );
}

#[tokio::test]
async fn bound_to_a_record_and_to_an_entity_set() {
    let calls = Calls::default();
    let (_emulator, client) = start(calls.clone()).await;
    let id = account(&client, "Contoso").await;

    // An action bound to one record, answering a primitive under `value`.
    let score = client
        .execute_bound(
            id,
            &NewRate {
                weight: Decimal::new(15, 1),
                rated_on: at(1_714_552_200), // 2024-05-01T08:30:00Z
                tags: Some(vec!["vip".into()]),
            },
        )
        .await
        .unwrap();
    assert_eq!(score, 42);

    // A function bound to the entity set, answering records of the generated table.
    let top = client
        .execute_bound_to_set(&NewTopAccounts {
            minimum_revenue: Decimal::new(10000005, 1),
            since: Some(at(1_704_067_200)), // 2024-01-01T00:00:00Z
        })
        .await
        .unwrap();
    let names: Vec<_> = top.iter().filter_map(|a| a.name.as_deref()).collect();
    assert_eq!(names, ["Big", "Bigger"]);
    assert_eq!(top[0].revenue, Some(Decimal::new(500000025, 2)));
    let _: Vec<Account> = client
        .execute_bound_to_set(&NewTopAccounts {
            minimum_revenue: Decimal::ONE,
            since: None,
        })
        .await
        .unwrap();

    // An overloaded function bound to a system user, with an entity parameter.
    let me = client.execute(&WhoAmI).await.unwrap().user_id.unwrap();
    let access = client
        .execute_bound(
            me,
            &RetrievePrincipalAccessSystemuser {
                target: record_odata_id::<Account>(id),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        access.access_rights.as_deref(),
        Some("ReadAccess, WriteAccess")
    );

    // An action answering nothing, bound to a record of another table.
    let project = client
        .new_projects()
        .create(&NewProject {
            new_name: Some("Apollo".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .execute_bound(
            project,
            &NewCloseProject {
                reason: Some("done".into()),
            },
        )
        .await
        .unwrap();
    // A record that does not exist is the service's 404, typed.
    let missing = client
        .execute_bound(Uuid::from_u128(9), &NewCloseProject::default())
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404), "{missing}");

    let calls = calls.lock().unwrap().clone();
    let seen: Vec<(&str, Option<&str>, &Value)> = calls
        .iter()
        .map(|(n, s, p)| (n.as_str(), s.as_deref(), p))
        .collect();
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(
        seen[0],
        (
            "new_Rate",
            Some("accounts"),
            &json!({"Weight": 1.5, "RatedOn": "2024-05-01T08:30:00Z", "Tags": ["vip"]})
        ),
        "money travels as a JSON number, dates as RFC 3339"
    );
    assert_eq!(
        seen[1],
        (
            "new_TopAccounts",
            Some("accounts"),
            &json!({"MinimumRevenue": 1000000.5, "Since": "2024-01-01T00:00:00Z"})
        )
    );
    assert_eq!(seen[2].2, &json!({"MinimumRevenue": 1}));
    assert_eq!(seen[3].0, "RetrievePrincipalAccess");
    assert_eq!(seen[3].1, Some("systemusers"));
    assert_eq!(
        seen[3].2["Target"],
        json!({"@odata.id": format!("accounts({id})")})
    );
    assert_eq!(
        seen[4],
        (
            "new_CloseProject",
            Some("new_projects"),
            &json!({"Reason": "done"})
        )
    );
}

#[test]
fn awkward_operations_compile_and_recursive_complex_types_are_boxed() {
    use dynamics_client::operations::{Call, Operation};
    use dynamics_tests::awkward::complex_types::{Filter, QueryExpression};
    use dynamics_tests::awkward::enum_types::Kind;
    use dynamics_tests::awkward::operations::{ResultResult, ResultSolution};

    let query = QueryExpression {
        sub_query_expression: Some(Box::new(QueryExpression {
            entity_name: Some("inner".into()),
            ..Default::default()
        })),
        criteria: Some(Box::new(Filter {
            query: Some(Box::new(QueryExpression::default())),
            filters: Some(vec![Filter::default()]),
        })),
        entity_name: Some("outer".into()),
    };
    let json = dynamics_client::__private::serde_json::to_value(&query).unwrap();
    assert_eq!(json["SubQueryExpression"]["EntityName"], "inner");
    assert_eq!(json["Criteria"]["Filters"], json!([{}]));

    // Keyword and local-like parameter names, an enum and a binary parameter.
    let call = ResultResult {
        self_: "x".into(),
        p: Some(2),
        v: Kind::Self2,
        flags: Some("A,B".into()),
        query: None,
        blob: Some(vec![0xfb, 0xff]),
    }
    .call()
    .unwrap();
    let expected = dynamics_client::operations::FunctionParameters::new()
        .with("self", "x")
        .unwrap()
        .with("p", 2)
        .unwrap()
        .with_enum("v", "Microsoft.Dynamics.CRM.Kind", "Self")
        .unwrap()
        .with_enum("flags", "Microsoft.Dynamics.CRM.Flags", "A,B")
        .unwrap()
        .with_binary("Blob", &[0xfb, 0xff])
        .unwrap();
    assert_eq!(call, Call::function(expected));
    assert_eq!(
        <ResultSolution as Operation>::NAME,
        "Microsoft.Dynamics.CRM.Result"
    );
    let action = ResultSolution {
        type_: vec![1, 2, 3],
        on: dynamics_client::__private::time::Date::from_calendar_date(
            2024,
            dynamics_client::__private::time::Month::February,
            29,
        )
        .unwrap(),
        until: None,
    }
    .call()
    .unwrap();
    // Base64 and `YYYY-MM-DD`, in the parameters' order, `Until` left out.
    #[derive(dynamics_client::__private::serde::Serialize)]
    #[serde(crate = "dynamics_client::__private::serde")]
    struct Body {
        #[serde(rename = "type")]
        bytes: &'static str,
        #[serde(rename = "On")]
        on: &'static str,
    }
    let body = Body {
        bytes: "AQID",
        on: "2024-02-29",
    };
    assert_eq!(action, Call::action(&body).unwrap());
}

//! The Web API over HTTP against the sample metadata: documents, CRUD, conditional writes,
//! lookups, associations, queries, paging, annotations and schema validation.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Fixture, create, ready};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn serves_metadata_service_document_and_entity_definitions() {
    let (f, token) = ready().await;
    let reply = f.call(Method::GET, "$metadata", &token).await;
    assert_eq!(reply.status, StatusCode::OK);
    let loaded = std::fs::read_to_string(common::sample_metadata()).unwrap();
    assert_eq!(reply.body, Value::String(loaded));

    let base = f.emulator.base_url();
    let older = f
        .call(
            Method::GET,
            &format!("{base}/api/data/v9.0/WhoAmI()"),
            &token,
        )
        .await;
    assert_eq!(older.status, StatusCode::OK, "v9.0 URLs keep working");
    f.call(
        Method::GET,
        &format!("{base}/api/data/v8.2/WhoAmI()"),
        &token,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "0x80060888");

    let doc = f.call(Method::GET, "", &token).await;
    let names: Vec<&str> = doc.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"accounts") && names.contains(&"new_projects"),
        "{names:?}"
    );

    let defs = f
        .send(
            Method::GET,
            "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute&$filter=LogicalName eq 'systemuser'",
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(defs.status, StatusCode::OK, "{}", defs.body);
    let value = defs.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 1);
    assert_eq!(value[0]["EntitySetName"], "systemusers");
    assert_eq!(value[0]["PrimaryIdAttribute"], "systemuserid");
    assert!(value[0]["MetadataId"].as_str().is_some());
    assert!(value[0].get("SchemaName").is_none(), "not selected");

    let one = f
        .send(
            Method::GET,
            "EntityDefinitions(LogicalName='new_project')",
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(one.body["EntitySetName"], "new_projects");
    assert_eq!(
        one.body["MetadataId"],
        value_of(&f, &token, "new_project").await
    );
    f.call(Method::GET, "EntityDefinitions(LogicalName='nope')", &token)
        .await
        .assert_error(StatusCode::NOT_FOUND, "0x80040217");
}

async fn value_of(f: &Fixture, token: &str, logical: &str) -> Value {
    let all = f
        .send(Method::GET, "EntityDefinitions", token, None, &[])
        .await;
    all.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["LogicalName"] == logical)
        .unwrap()["MetadataId"]
        .clone()
}

#[tokio::test]
async fn create_answers_204_with_entity_id_or_201_with_the_record() {
    let (f, token) = ready().await;
    let reply = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(json!({"name": "Contoso"})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let url = reply.header("OData-EntityId").unwrap();
    assert!(url.starts_with(&f.emulator.web_api_url()), "{url}");
    let id = reply.entity_id();
    assert_eq!(
        f.emulator.record("accounts", id).unwrap()["name"],
        "Contoso"
    );

    let mine = Uuid::new_v4();
    let reply = f
        .send(
            Method::POST,
            "accounts?$select=name",
            &token,
            Some(json!({"accountid": mine, "name": "Fabrikam", "revenue": 20000})),
            &[("Prefer", "return=representation")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert!(reply.header("OData-EntityId").is_none());
    assert_eq!(
        reply.header("Preference-Applied"),
        Some("return=representation")
    );
    assert_eq!(
        reply.body["accountid"],
        json!(mine),
        "client-supplied key honoured"
    );
    assert_eq!(reply.body["name"], "Fabrikam");
    assert!(reply.body.get("revenue").is_none(), "$select applies");
    assert!(
        reply.body["@odata.etag"]
            .as_str()
            .unwrap()
            .starts_with("W/\"")
    );
    assert!(
        reply.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#accounts(name)/$entity")
    );

    f.send(
        Method::POST,
        "accounts",
        &token,
        Some(json!({"accountid": mine})),
        &[],
    )
    .await
    .assert_error(StatusCode::PRECONDITION_FAILED, "0x80040237");
}

#[tokio::test]
async fn retrieves_by_id_and_alternate_keys() {
    let (f, token) = ready().await;
    let id = create(
        &f,
        &token,
        "accounts",
        json!({"name": "Alpine", "accountnumber": "A'1", "numberofemployees": 5}),
    )
    .await;
    let reply = f
        .send(
            Method::GET,
            &format!("accounts({id})?$select=name"),
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["name"], "Alpine");
    assert_eq!(
        reply.body["accountid"],
        json!(id),
        "the key always comes back"
    );
    assert!(reply.body.get("numberofemployees").is_none());

    let by_key = f
        .send(
            Method::GET,
            "accounts(accountnumber='A''1')",
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(by_key.status, StatusCode::OK, "{}", by_key.body);
    assert_eq!(by_key.body["accountid"], json!(id));
    assert_eq!(by_key.body["numberofemployees"], 5);
    assert!(
        by_key.body.get("telephone1").unwrap().is_null(),
        "unset properties are null"
    );

    let project = create(
        &f,
        &token,
        "new_projects",
        json!({"new_code": "P-1", "new_name": "Roof"}),
    )
    .await;
    let reply = f
        .send(
            Method::GET,
            "new_projects(new_name='Roof',new_code='P-1')",
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(reply.body["new_projectid"], json!(project));
    let reply = f
        .send(
            Method::GET,
            &format!("accounts(accountid={id})"),
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);

    let bad = f
        .send(Method::GET, "accounts(name='Alpine')", &token, None, &[])
        .await;
    assert!(
        bad.assert_error(StatusCode::BAD_REQUEST, "0x80060888")
            .contains("key")
    );
    let missing = Uuid::new_v4();
    let message = f
        .send(
            Method::GET,
            &format!("accounts({missing})"),
            &token,
            None,
            &[],
        )
        .await
        .assert_error(StatusCode::NOT_FOUND, "0x80040217")
        .to_owned();
    assert_eq!(
        message,
        format!("account With Id = {missing} Does Not Exist")
    );

    let etag = reply.body["@odata.etag"].as_str().unwrap().to_owned();
    let unchanged = f
        .send(
            Method::GET,
            &format!("accounts({id})"),
            &token,
            None,
            &[("If-None-Match", &etag)],
        )
        .await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn updates_upserts_and_deletes_with_etags() {
    let (f, token) = ready().await;
    let id = create(&f, &token, "accounts", json!({"name": "Before"})).await;
    let path = format!("accounts({id})");
    let first = f.call(Method::GET, &path, &token).await.body["@odata.etag"].clone();
    let reply = f
        .send(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"name": "After"})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let now = f.call(Method::GET, &path, &token).await.body;
    assert_eq!(now["name"], "After");
    assert_ne!(now["@odata.etag"], first, "the etag changes on write");
    assert_eq!(
        now["versionnumber"].to_string(),
        now["@odata.etag"]
            .as_str()
            .unwrap()
            .trim_start_matches("W/")
            .trim_matches('"')
    );

    let stale = first.as_str().unwrap();
    f.send(
        Method::PATCH,
        &path,
        &token,
        Some(json!({"name": "x"})),
        &[("If-Match", stale)],
    )
    .await
    .assert_error(StatusCode::PRECONDITION_FAILED, "0x80060882");
    let current = now["@odata.etag"].as_str().unwrap();
    let reply = f
        .send(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"name": "Matched"})),
            &[("If-Match", current), ("Prefer", "return=representation")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["name"], "Matched");

    // Upsert: PATCH creates a missing record, unless If-Match forbids it.
    let fresh = Uuid::new_v4();
    let reply = f
        .send(
            Method::PATCH,
            &format!("accounts({fresh})"),
            &token,
            Some(json!({"name": "Upserted"})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.entity_id(), fresh);
    f.send(
        Method::PATCH,
        &format!("accounts({})", Uuid::new_v4()),
        &token,
        Some(json!({"name": "x"})),
        &[("If-Match", "*")],
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "0x80040217");
    f.send(
        Method::PATCH,
        &path,
        &token,
        Some(json!({"name": "x"})),
        &[("If-None-Match", "*")],
    )
    .await
    .assert_error(StatusCode::PRECONDITION_FAILED, "0x80040237");
    let reply = f
        .send(
            Method::PATCH,
            "accounts(accountnumber='NEW-9')",
            &token,
            Some(json!({"name": "By key"})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let created = f.emulator.record("accounts", reply.entity_id()).unwrap();
    assert_eq!(created["accountnumber"], "NEW-9");
    // Alternate keys stay unique.
    f.send(
        Method::POST,
        "accounts",
        &token,
        Some(json!({"accountnumber": "NEW-9"})),
        &[],
    )
    .await
    .assert_error(StatusCode::PRECONDITION_FAILED, "0x80040237");
    // Also when one column is set on its own, and the key still finds its record.
    f.send(
        Method::PUT,
        &format!("{path}/accountnumber"),
        &token,
        Some(json!({"value": "NEW-9"})),
        &[],
    )
    .await
    .assert_error(StatusCode::PRECONDITION_FAILED, "0x80040237");
    let by_key = f
        .call(Method::GET, "accounts(accountnumber='NEW-9')", &token)
        .await;
    assert_eq!(by_key.status, StatusCode::OK);
    assert_eq!(by_key.body["name"], "By key");

    let reply = f
        .send(Method::DELETE, &path, &token, None, &[("If-Match", stale)])
        .await;
    assert_eq!(reply.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        f.call(Method::DELETE, &path, &token).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        f.call(Method::GET, &path, &token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.call(Method::DELETE, &path, &token).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn single_properties_read_and_write() {
    let (f, token) = ready().await;
    let id = create(&f, &token, "accounts", json!({"name": "Prop"})).await;
    let reply = f
        .send(
            Method::GET,
            &format!("accounts({id})/name"),
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(reply.body["value"], "Prop");
    let reply = f
        .send(
            Method::PUT,
            &format!("accounts({id})/telephone1"),
            &token,
            Some(json!({"value": "555"})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        f.emulator.record("accounts", id).unwrap()["telephone1"],
        "555"
    );
    f.call(
        Method::DELETE,
        &format!("accounts({id})/telephone1"),
        &token,
    )
    .await;
    assert!(f.emulator.record("accounts", id).unwrap()["telephone1"].is_null());
}

#[tokio::test]
async fn lookups_bind_clear_and_annotate() {
    let (f, token) = ready().await;
    let account = create(&f, &token, "accounts", json!({"name": "Parent Co"})).await;
    let contact = create(
        &f,
        &token,
        "contacts",
        json!({"firstname": "Ada", "lastname": "Lovelace", "parentcustomerid_account@odata.bind": format!("/accounts({account})")}),
    )
    .await;
    let path = format!("contacts({contact})");
    let reply = f
        .send(
            Method::GET,
            &path,
            &token,
            None,
            &[("Prefer", "odata.include-annotations=\"*\"")],
        )
        .await;
    let body = &reply.body;
    assert_eq!(body["_parentcustomerid_value"], json!(account));
    assert_eq!(body["fullname"], "Ada Lovelace", "computed by the service");
    assert_eq!(
        body["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        "account"
    );
    assert_eq!(
        body["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"],
        "parentcustomerid_account"
    );
    assert_eq!(
        body["_parentcustomerid_value@OData.Community.Display.V1.FormattedValue"],
        "Parent Co"
    );
    assert_eq!(
        body["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        "systemuser"
    );
    assert!(
        reply
            .header("Preference-Applied")
            .unwrap()
            .contains("include-annotations")
    );
    let plain = f.call(Method::GET, &path, &token).await.body;
    assert!(
        plain
            .get("_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname")
            .is_none()
    );

    // Filters reach through single-valued navigation properties, abstract targets included.
    let by_parent = f
        .call(
            Method::GET,
            "contacts?$filter=parentcustomerid_account/name eq 'Parent Co'&$select=lastname",
            &token,
        )
        .await;
    assert_eq!(
        by_parent.body["value"][0]["lastname"], "Lovelace",
        "{}",
        by_parent.body
    );
    let by_owner = f
        .call(
            Method::GET,
            "contacts?$filter=endswith(ownerid/fullname,'5d34')&$count=true",
            &token,
        )
        .await;
    assert_eq!(by_owner.body["@odata.count"], 1, "{}", by_owner.body);
    f.call(
        Method::GET,
        "accounts?$filter=Account_Tasks/subject eq 'x'",
        &token,
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80060888");

    // The polymorphic lookup switches table through the other navigation property.
    let other = create(&f, &token, "contacts", json!({"lastname": "Babbage"})).await;
    f.send(
        Method::PATCH,
        &path,
        &token,
        Some(json!({"parentcustomerid_contact@odata.bind": format!("contacts({other})")})),
        &[],
    )
    .await;
    let body = f
        .send(
            Method::GET,
            &path,
            &token,
            None,
            &[(
                "Prefer",
                "odata.include-annotations=\"Microsoft.Dynamics.CRM.lookuplogicalname\"",
            )],
        )
        .await
        .body;
    assert_eq!(body["_parentcustomerid_value"], json!(other));
    assert_eq!(
        body["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        "contact"
    );
    assert!(
        body.get("_parentcustomerid_value@OData.Community.Display.V1.FormattedValue")
            .is_none()
    );

    // Navigation names are case-sensitive, as in Dataverse.
    let message = f
        .send(
            Method::PATCH,
            &path,
            &token,
            Some(json!({"ParentCustomerId_Account@odata.bind": format!("/accounts({account})")})),
            &[],
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, "0x80060888")
        .to_owned();
    assert!(
        message.contains("undeclared property 'ParentCustomerId_Account'"),
        "{message}"
    );
    f.send(Method::PATCH, &path, &token, Some(json!({"parentcustomerid_account@odata.bind": format!("/accounts({})", Uuid::new_v4())})), &[])
        .await
        .assert_error(StatusCode::NOT_FOUND, "0x80040217");
    f.send(
        Method::PATCH,
        &path,
        &token,
        Some(json!({"parentcustomerid_account@odata.bind": format!("/contacts({other})")})),
        &[],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80060888");
    f.send(
        Method::PATCH,
        &path,
        &token,
        Some(json!({"_parentcustomerid_value": account})),
        &[],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80048d19");

    // $ref sets and clears a single-valued navigation property.
    let reply = f
        .send(
            Method::PUT,
            &format!("{path}/parentcustomerid_account/$ref"),
            &token,
            Some(json!({"@odata.id": format!("{}accounts({account})", f.emulator.web_api_url())})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let expanded = f
        .send(Method::GET, &format!("{path}?$expand=parentcustomerid_account($select=name),parentcustomerid_contact,ownerid($select=fullname)"), &token, None, &[])
        .await
        .body;
    assert_eq!(expanded["parentcustomerid_account"]["name"], "Parent Co");
    assert!(expanded["parentcustomerid_contact"].is_null());
    assert!(
        expanded["ownerid"]["fullname"]
            .as_str()
            .unwrap()
            .starts_with("# "),
        "{expanded}"
    );
    assert_eq!(
        expanded["ownerid"]["@odata.type"],
        "#Microsoft.Dynamics.CRM.systemuser"
    );
    assert!(
        expanded["parentcustomerid_account"]
            .get("@odata.type")
            .is_none()
    );
    let reply = f
        .send(
            Method::DELETE,
            &format!("{path}/parentcustomerid_account/$ref"),
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(f.emulator.record("contacts", contact).unwrap()["_parentcustomerid_value"].is_null());

    // Deleting a record unlinks the lookups that pointed at it.
    f.send(
        Method::PATCH,
        &path,
        &token,
        Some(json!({"parentcustomerid_account@odata.bind": format!("/accounts({account})")})),
        &[],
    )
    .await;
    f.call(Method::DELETE, &format!("accounts({account})"), &token)
        .await;
    assert!(f.emulator.record("contacts", contact).unwrap()["_parentcustomerid_value"].is_null());
}

#[tokio::test]
async fn associates_and_disassociates_collections() {
    let (f, token) = ready().await;
    let account = create(&f, &token, "accounts", json!({"name": "Busy"})).await;
    let t1 = create(&f, &token, "tasks", json!({"subject": "one"})).await;
    let t2 = create(&f, &token, "tasks", json!({"subject": "two", "regardingobjectid_account_task@odata.bind": format!("/accounts({account})")})).await;
    let refs = format!("accounts({account})/Account_Tasks/$ref");
    let reply = f
        .send(
            Method::POST,
            &refs,
            &token,
            Some(json!({"@odata.id": format!("tasks({t1})")})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let listed = f.call(Method::GET, &refs, &token).await.body;
    assert_eq!(listed["value"].as_array().unwrap().len(), 2, "{listed}");
    let count = f
        .call(
            Method::GET,
            &format!("accounts({account})/Account_Tasks/$count"),
            &token,
        )
        .await;
    assert_eq!(
        count.body,
        json!("\u{feff}2"),
        "plain text with a BOM, as documented"
    );

    let tasks = f
        .send(
            Method::GET,
            &format!("accounts({account})/Account_Tasks?$select=subject&$orderby=subject desc"),
            &token,
            None,
            &[],
        )
        .await
        .body;
    let subjects: Vec<&str> = tasks["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["two", "one"]);

    let expanded = f
        .send(Method::GET, &format!("accounts({account})?$select=name&$expand=Account_Tasks($select=subject;$filter=subject eq 'one')"), &token, None, &[])
        .await
        .body;
    let items = expanded["Account_Tasks"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["activityid"], json!(t1));

    let reply = f
        .send(
            Method::DELETE,
            &format!("accounts({account})/Account_Tasks({t1})/$ref"),
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let reply = f
        .send(
            Method::DELETE,
            &format!("{refs}?$id={}tasks({t2})", f.emulator.web_api_url()),
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let listed = f.call(Method::GET, &refs, &token).await.body;
    assert_eq!(listed["value"], json!([]));
    assert!(f.emulator.record("tasks", t2).unwrap()["_regardingobjectid_value"].is_null());
}

async fn seed_accounts(f: &Fixture, n: usize) {
    let records: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("Account {i:02}"), "numberofemployees": i, "creditonhold": i % 2 == 0,
                        "revenue": i as f64 * 1000.5, "lastonholdtime": format!("2024-01-{:02}T08:00:00Z", i + 1)}))
        .collect();
    f.emulator.seed(&json!({"accounts": records})).unwrap();
}

fn names(body: &Value) -> Vec<String> {
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn queries_filter_sort_count_and_select() {
    let (f, token) = ready().await;
    seed_accounts(&f, 12).await;
    let query = |q: &'static str| {
        let f = &f;
        let token = &token;
        async move { f.call(Method::GET, &format!("accounts?{q}"), token).await }
    };
    let reply = query("$select=name&$filter=numberofemployees ge 3 and numberofemployees lt 6&$orderby=numberofemployees desc").await;
    assert_eq!(
        names(&reply.body),
        ["Account 05", "Account 04", "Account 03"]
    );
    assert!(reply.body["value"][0].get("revenue").is_none());
    assert!(
        reply.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#accounts(name)")
    );

    let reply = query("$filter=(contains(name,'0') or endswith(name,'11')) and not creditonhold eq true&$select=name").await;
    assert_eq!(
        names(&reply.body),
        [
            "Account 01",
            "Account 03",
            "Account 05",
            "Account 07",
            "Account 09",
            "Account 11"
        ]
    );
    let reply = query("$filter=startswith(name,'account 1')&$count=true&$top=1&$select=name").await;
    assert_eq!(reply.body["@odata.count"], 2, "the count ignores $top");
    assert_eq!(names(&reply.body), ["Account 10"]);
    let reply =
        query("$filter=lastonholdtime gt 2024-01-10T00:00:00Z and revenue gt 10000&$select=name")
            .await;
    assert_eq!(names(&reply.body), ["Account 10", "Account 11"]);
    let reply =
        query("$filter=telephone1 eq null and name ne 'Account 00'&$select=name&$orderby=name")
            .await;
    assert_eq!(names(&reply.body).len(), 11);

    let reply = f.call(Method::GET, "accounts/$count", &token).await;
    assert_eq!(reply.body, json!(12));

    for bad in [
        "$skip=2",
        "$filter=nosuch eq 1",
        "$filter=name eq 'unterminated",
        "$select=ownerid",
        "$orderby=nosuch",
        "$expand=Nosuch",
    ] {
        query(bad)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "0x80060888");
    }

    let owner = f.emulator.records("accounts").unwrap()[0]["_ownerid_value"].clone();
    let q = format!(
        "accounts?$filter=_ownerid_value eq {}&$count=true",
        owner.as_str().unwrap()
    );
    let reply = f.call(Method::GET, &q, &token).await;
    assert_eq!(reply.body["@odata.count"], 12, "lookups filter as _x_value");
}

#[tokio::test]
async fn pages_follow_next_links() {
    let (f, token) = ready().await;
    seed_accounts(&f, 12).await;
    let mut url = format!(
        "{}accounts?$select=name&$orderby=name",
        f.emulator.web_api_url()
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let reply = f
            .send(
                Method::GET,
                &url,
                &token,
                None,
                &[("Prefer", "odata.maxpagesize=5")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(
            reply.header("Preference-Applied"),
            Some("odata.maxpagesize=5")
        );
        pages += 1;
        seen.extend(names(&reply.body));
        match reply.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.contains("$skiptoken="), "{next}");
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..12).map(|i| format!("Account {i:02}")).collect();
    assert_eq!(seen, expected);

    let reply = f
        .send(Method::GET, "accounts?$select=name", &token, None, &[])
        .await;
    assert!(
        reply.body.get("@odata.nextLink").is_none(),
        "default page is 5000"
    );
    assert_eq!(names(&reply.body).len(), 12);
}

#[tokio::test]
async fn formatted_values_and_total_counts_when_asked() {
    let (f, token) = ready().await;
    seed_accounts(&f, 3).await;
    let reply = f
        .send(
            Method::GET,
            "accounts?$filter=name eq 'Account 02'&$count=true",
            &token,
            None,
            &[("Prefer", "odata.include-annotations=\"*\"")],
        )
        .await;
    let row = &reply.body["value"][0];
    assert_eq!(
        row["revenue@OData.Community.Display.V1.FormattedValue"],
        "2,001.00"
    );
    assert_eq!(
        row["creditonhold@OData.Community.Display.V1.FormattedValue"],
        "Yes"
    );
    assert_eq!(
        row["lastonholdtime@OData.Community.Display.V1.FormattedValue"],
        "1/3/2024 8:00 AM"
    );
    assert_eq!(reply.body["@Microsoft.Dynamics.CRM.totalrecordcount"], 1);
    assert_eq!(
        reply.body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"],
        false
    );
}

#[tokio::test]
async fn validates_against_the_schema() {
    let (f, token) = ready().await;
    f.call(Method::GET, "acounts", &token)
        .await
        .assert_error(StatusCode::NOT_FOUND, "0x80060888");
    let message = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(json!({"nmae": "typo"})),
            &[],
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, "0x80060888")
        .to_owned();
    assert!(
        message.contains("'nmae' does not exist on type 'Microsoft.Dynamics.CRM.account'"),
        "{message}"
    );
    for bad in [
        json!({"numberofemployees": "many"}),
        json!({"numberofemployees": 1.5}),
        json!({"creditonhold": "yes"}),
        json!({"revenue": "lots"}),
        json!({"lastonholdtime": "yesterday"}),
        json!({"accountid": "not-a-guid"}),
    ] {
        let message = f
            .send(Method::POST, "accounts", &token, Some(bad.clone()), &[])
            .await
            .assert_error(StatusCode::BAD_REQUEST, "0x80048d19")
            .to_owned();
        assert!(
            message.contains("Cannot convert the literal"),
            "{bad}: {message}"
        );
    }
    let message = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(json!({"accountnumber": "x".repeat(21)})),
            &[],
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, "0x80044331")
        .to_owned();
    assert!(
        message.contains("maximum allowed length of '20'"),
        "{message}"
    );
    let reply = f
        .http
        .post(f.api("accounts"))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    f.send(Method::PATCH, "accounts", &token, Some(json!({})), &[])
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "0x80060888");
    let id = create(&f, &token, "accounts", json!({"name": "Shallow"})).await;
    f.send(
        Method::PATCH,
        &format!("accounts({id})"),
        &token,
        Some(json!({"primarycontactid": {"lastname": "deep"}})),
        &[],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "0x80060888");
}

#[tokio::test]
async fn seeds_and_reads_back_records() {
    let (f, token) = ready().await;
    let account = Uuid::new_v4();
    f.emulator
        .seed(&json!({
            // Binds may point at records seeded later in the document.
            "contacts": [{"lastname": "Seeded", "parentcustomerid_account@odata.bind": format!("/accounts({account})")}],
            "accounts": [{"accountid": account, "name": "Seeded Co"}],
        }))
        .unwrap();
    let contacts = f.emulator.records("contacts").unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["_parentcustomerid_value"], json!(account));
    let reply = f
        .send(
            Method::GET,
            &format!("accounts({account})/contact_customer_accounts"),
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(reply.body["value"][0]["lastname"], "Seeded");
    assert!(f.emulator.records("nosuch").is_none());
    let owner = &contacts[0]["_ownerid_value@OData.Community.Display.V1.FormattedValue"];
    assert_eq!(owner, "SYSTEM", "seeded records are owned by SYSTEM");
    let err = f
        .emulator
        .seed(&json!({"accounts": [{"name": 5}]}))
        .unwrap_err();
    assert!(err.to_string().contains("accounts[0]"), "{err}");
    assert!(f.emulator.seed(&json!({"nosuch": []})).is_err());
    // The app's own user exists, so WhoAmI points at a real record.
    let who = f
        .send(Method::GET, "WhoAmI()", &token, None, &[])
        .await
        .body;
    let user = f
        .send(
            Method::GET,
            &format!("systemusers({})", who["UserId"].as_str().unwrap()),
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(user.status, StatusCode::OK, "{}", user.body);
    assert_eq!(user.body["applicationid"], common::CLIENT_ID);
}

#[tokio::test]
async fn concurrent_writes_are_all_kept() {
    let (f, token) = ready().await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let http = f.http.clone();
        let url = f.api("contacts");
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"lastname": format!("c{i}")}))
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), StatusCode::NO_CONTENT);
    }
    assert_eq!(f.emulator.records("contacts").unwrap().len(), 40);
}

#[tokio::test]
async fn next_links_of_navigation_collections_stay_valid_urls() {
    let (f, token) = ready().await;
    let account = create(
        &f,
        &token,
        "accounts",
        json!({"name": "Paged", "accountnumber": "A B"}),
    )
    .await;
    for subject in ["first", "second"] {
        create(
            &f,
            &token,
            "tasks",
            json!({"subject": subject, "regardingobjectid_account_task@odata.bind": format!("/accounts({account})")}),
        )
        .await;
    }
    let first = f
        .send(
            Method::GET,
            "accounts(accountnumber='A%20B')/Account_Tasks?$select=subject",
            &token,
            None,
            &[("Prefer", "odata.maxpagesize=1")],
        )
        .await;
    let next = first.body["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.contains("accounts(accountnumber='A%20B')/Account_Tasks?"),
        "{next}"
    );
    let second = f
        .send(
            Method::GET,
            next,
            &token,
            None,
            &[("Prefer", "odata.maxpagesize=1")],
        )
        .await;
    assert_eq!(
        second.body["value"][0]["subject"], "second",
        "{}",
        second.body
    );
    assert!(second.body.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn deep_insert_creates_related_records_in_one_transaction() {
    let (f, token) = ready().await;
    let account = create(
        &f,
        &token,
        "accounts",
        json!({"name": "Deep", "primarycontactid": {"firstname": "Pat", "lastname": "Deep"},
               "Account_Tasks": [{"subject": "t1"}, {"subject": "t2"}]}),
    )
    .await;
    let reply = f
        .call(
            Method::GET,
            &format!("accounts({account})?$expand=primarycontactid($select=fullname),Account_Tasks($select=subject)"),
            &token,
        )
        .await;
    assert_eq!(
        reply.body["primarycontactid"]["fullname"], "Pat Deep",
        "{}",
        reply.body
    );
    assert_eq!(reply.body["Account_Tasks"].as_array().unwrap().len(), 2);

    let reply = f
        .send(
            Method::POST,
            "accounts",
            &token,
            Some(
                json!({"name": "Rolled back", "primarycontactid": {"lastname": "Gone"},
                        "Account_Tasks": [{"subject": "x".repeat(201)}]}),
            ),
            &[],
        )
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "0x80044331");
    assert_eq!(f.emulator.records("accounts").unwrap().len(), 1);
    assert_eq!(f.emulator.records("contacts").unwrap().len(), 1);
    assert_eq!(f.emulator.records("tasks").unwrap().len(), 2);
}

#[tokio::test]
async fn filters_through_navigation_properties_read_each_records_target() {
    let (f, token) = ready().await;
    let account = |n: u32| format!("00000000-0000-4000-8000-0000000000{n:02}");
    f.emulator
        .seed(&json!({
            "accounts": [
                {"accountid": account(1), "name": "Early", "revenue": 10, "lastonholdtime": "2023-06-01T00:00:00Z"},
                {"accountid": account(2), "name": "Late", "revenue": 20, "lastonholdtime": "2024-06-01T00:00:00Z"},
            ],
            "contacts": [
                {"lastname": "One", "parentcustomerid_account@odata.bind": format!("/accounts({})", account(1))},
                {"lastname": "Two", "parentcustomerid_account@odata.bind": format!("/accounts({})", account(2))},
                {"lastname": "Three", "parentcustomerid_account@odata.bind": format!("/accounts({})", account(2))},
                {"lastname": "Four"},
            ],
        }))
        .unwrap();
    let lastnames = |filter: &'static str| {
        let (f, token) = (&f, &token);
        async move {
            let path = format!("contacts?$select=lastname&$orderby=lastname&$filter={filter}");
            let reply = f.call(Method::GET, &path, token).await;
            assert_eq!(reply.status, StatusCode::OK, "{filter}: {}", reply.body);
            reply.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["lastname"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    // A date and a number through the navigation property, each read as its column's type.
    assert_eq!(
        lastnames("parentcustomerid_account/lastonholdtime gt 2024-01-01 and parentcustomerid_account/revenue ge 20 and lastname ne 'Two'").await,
        ["Three"]
    );
    assert_eq!(
        lastnames("parentcustomerid_account/lastonholdtime lt 2024-01-01T00:00:00Z or parentcustomerid_account/name eq null").await,
        ["Four", "One"]
    );
    // The abstract owner, read twice in one expression.
    assert_eq!(
        lastnames("ownerid/fullname eq 'SYSTEM' and not (ownerid/fullname eq 'x') and parentcustomerid_account/name eq 'late'").await,
        ["Three", "Two"]
    );
}

//! The typed queries of issue 18 end to end, generated code → client → emulator: query
//! functions, `$apply` into a caller's type and into typed rows, `any`/`all` lambdas, a
//! collection `$expand` with nested options and single-property reads.
//!
//! Sources for each form are cited next to the client and emulator code; the overview:
//! <https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows>,
//! <https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/aggregate-data>.

use dynamics_client::__private::serde;
use dynamics_client::__private::serde_json::Value;
use dynamics_client::__private::uuid::Uuid;
use dynamics_client::{
    Client, Query,
    query::{Aggregate, Apply, ApplyRow, Related},
};
use dynamics_tests::built::{Account, EntitySets, Task, TaskRegardingobjectid};

mod support;

/// Generated from the metadata's `Account_Tasks` collection-valued navigation property.
const TASKS: Related<Account, Task> = Account::ACCOUNT_TASKS;

/// Accounts in two industries, a hierarchy Parent ← Child, tasks on the parent (one open,
/// one closed); all created by the client, so owned by its application user.
async fn seeded(client: &Client) -> (Uuid, Uuid) {
    let account = |name: &str, industry: i32, revenue: i64| Account {
        name: Some(name.to_owned()),
        industrycode: Some(industry),
        revenue: Some(revenue.into()),
        ..Account::default()
    };
    let parent = client
        .accounts()
        .create(&account("Parent", 1, 100))
        .await
        .unwrap();
    let mut child = account("Child", 1, 250);
    child.set_parentaccountid(parent);
    let child = client.accounts().create(&child).await.unwrap();
    client
        .accounts()
        .create(&account("Other", 2, 40))
        .await
        .unwrap();
    for (subject, closed) in [("Call", false), ("Mail", true)] {
        let mut task = Task {
            subject: Some(subject.to_owned()),
            ..Task::default()
        };
        task.set_regardingobjectid(TaskRegardingobjectid::Account(parent));
        let id = client.entity_set::<Task>().create(&task).await.unwrap();
        if closed {
            let done = Task {
                statecode: Some(1),
                ..Task::default()
            };
            client.entity_set::<Task>().update(id, &done).await.unwrap();
        }
    }
    (parent, child)
}

async fn names(client: &Client, query: Query<Account>) -> Vec<String> {
    let page = client
        .accounts()
        .query(&query.select(Account::NAME).order_by(Account::NAME.asc()))
        .await
        .unwrap();
    page.items.into_iter().filter_map(|a| a.name).collect()
}

#[tokio::test]
async fn query_functions_select_what_dataverse_would() {
    let (emulator, client) = support::start(|b| b).await;
    // A record the service's SYSTEM user owns, not the client's user.
    emulator
        .seed(&dynamics_client::__private::serde_json::json!({"accounts": [{"name": "Seeded"}]}))
        .unwrap();
    let (parent, child) = seeded(&client).await;
    let q = Query::<Account>::new;
    assert_eq!(
        names(
            &client,
            q().filter(Account::NAME.is_in(["parent", "Other", "x"]))
        )
        .await,
        ["Other", "Parent"]
    );
    assert_eq!(
        names(
            &client,
            q().filter(Account::NAME.not_in(["Parent", "Other"]))
        )
        .await,
        ["Child", "Seeded"]
    );
    assert_eq!(
        names(&client, q().filter(Account::INDUSTRYCODE.between(2, 5))).await,
        ["Other"]
    );
    assert_eq!(
        names(&client, q().filter(Account::CREATEDON.last_x_days(30))).await,
        ["Child", "Other", "Parent", "Seeded"]
    );
    assert!(
        names(&client, q().filter(Account::CREATEDON.older_than_x_days(1)))
            .await
            .is_empty()
    );
    assert_eq!(
        names(&client, q().filter(Account::OWNERID.equal_user_id())).await,
        ["Child", "Other", "Parent"]
    );
    assert_eq!(
        names(
            &client,
            q().filter(Account::OWNINGBUSINESSUNIT.equal_business_id())
        )
        .await
        .len(),
        4
    );
    assert_eq!(
        names(&client, q().filter(Account::ACCOUNTID.under(parent))).await,
        ["Child"]
    );
    assert_eq!(
        names(
            &client,
            q().filter(Account::ACCOUNTID.above_or_equal(child))
        )
        .await,
        ["Child", "Parent"]
    );
    // A list split for long inputs still selects the same records, part by part.
    let mut found = Vec::new();
    for part in Account::NAME.is_in_chunks(["Parent", "Child", "Other"], 2) {
        found.extend(names(&client, q().filter(part)).await);
    }
    found.sort();
    assert_eq!(found, ["Child", "Other", "Parent"]);
}

#[tokio::test]
async fn apply_rows_decode_into_caller_types_and_typed_rows() {
    let (_emulator, client) = support::start(|b| b.choices_file(support::SAMPLE_CHOICES)).await;
    seeded(&client).await;
    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(crate = "dynamics_client::__private::serde")]
    struct ByIndustry {
        industrycode: i32,
        total: f64,
        count: u32,
    }
    let total = Account::REVENUE.sum().alias("total");
    let apply = Apply::new()
        .group_by(Account::INDUSTRYCODE)
        .aggregate(total.clone())
        .aggregate(Aggregate::count());
    let rows: Vec<ByIndustry> = client.accounts().apply(&apply).await.unwrap();
    assert_eq!(
        rows,
        [
            ByIndustry {
                industrycode: 1,
                total: 350.0,
                count: 2
            },
            ByIndustry {
                industrycode: 2,
                total: 40.0,
                count: 1
            },
        ]
    );
    let rows: Vec<ApplyRow<Account>> = client.accounts().apply_rows(&apply).await.unwrap();
    assert_eq!(rows[0].group(Account::INDUSTRYCODE).unwrap(), Some(1));
    assert_eq!(rows[1].aggregate::<f64>(&total).unwrap(), Some(40.0));
    assert_eq!(rows[0].formatted("industrycode"), None, "not asked for");
    // Asked for: each grouped value's label and each aggregate in the user's number format,
    // as in "Aggregate data using the Web API"
    // (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/aggregate-data).
    let labelled = apply.clone().with_formatted_values();
    let rows = client.accounts().apply_rows(&labelled).await.unwrap();
    assert_eq!(rows[0].formatted("industrycode"), Some("Accounting"));
    assert_eq!(rows[0].formatted(total.name()), Some("350.00"));
    assert_eq!(rows[0].formatted("count"), Some("2"));
    assert_eq!(rows[0].group(Account::INDUSTRYCODE).unwrap(), Some(1));
    let filtered = Apply::new()
        .filter(Account::NAME.ne("Other"))
        .aggregate(Account::REVENUE.max().alias("top"));
    let rows = client.accounts().apply_rows(&filtered).await.unwrap();
    assert_eq!(rows[0].get::<f64>("top").unwrap(), Some(250.0));
}

#[tokio::test]
async fn lambdas_expands_and_single_properties() {
    let (_emulator, client) = support::start(|b| b).await;
    let (parent, child) = seeded(&client).await;
    let q = Query::<Account>::new;
    assert_eq!(
        names(
            &client,
            q().filter(TASKS.any(|t| t.col(Task::STATECODE).eq(0)))
        )
        .await,
        ["Parent"]
    );
    assert_eq!(
        names(
            &client,
            q().filter(TASKS.all(|t| t.col(Task::STATECODE).eq(1)))
        )
        .await,
        ["Child", "Other"],
        "`all` holds for an empty collection"
    );
    assert_eq!(
        names(&client, q().filter(!TASKS.exists())).await,
        ["Child", "Other"]
    );

    // The open tasks of each account, inside the account: a collection `$expand` with its
    // own `$select`, `$filter`, `$orderby` and `$top`.
    let query = Query::<Account>::new()
        .select(Account::NAME)
        .filter(Account::ACCOUNTID.eq(parent))
        .expand_related(
            TASKS,
            Query::new()
                .select(Task::SUBJECT)
                .filter(Task::STATECODE.eq(0))
                .order_by(Task::SUBJECT.asc())
                .top(5),
        );
    let body: Value = client
        .get(&format!("accounts?{}", query.to_query_string()))
        .await
        .unwrap();
    let tasks = body["value"][0]["Account_Tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["subject"], "Call");

    let accounts = client.accounts();
    assert_eq!(
        accounts.retrieve_value(child, Account::NAME).await.unwrap(),
        Some("Child".to_owned())
    );
    assert_eq!(
        accounts
            .retrieve_value(child, Account::PARENTACCOUNTID)
            .await
            .unwrap(),
        Some(parent)
    );
    assert_eq!(
        accounts
            .retrieve_value(child, Account::TELEPHONE1)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        accounts
            .retrieve_raw_value(child, Account::NAME)
            .await
            .unwrap()
            .as_deref(),
        Some("Child")
    );
    assert_eq!(
        accounts
            .retrieve_raw_value(child, Account::INDUSTRYCODE)
            .await
            .unwrap()
            .as_deref(),
        Some("1")
    );
}

//! Change tracking on the wire, against a scripted server: the preference sent with every
//! page, next links and delta links followed exactly as given (and only inside the Web API),
//! records and deletions told apart, and bad input refused before anything is sent.

#![allow(clippy::unwrap_used)]

mod support;

use dynamics_client::{
    Error,
    changes::{Change, ChangePage, DeltaLink},
};
use futures::TryStreamExt as _;
use support::stub::{Reply, Stub};
use support::{Account, named};
use uuid::Uuid;

const DELETED: &str = "2e451703-c686-e711-80e5-00155db19e6d";

async fn collect(
    stream: impl futures::Stream<Item = dynamics_client::Result<ChangePage<Account>>>,
) -> dynamics_client::Result<Vec<ChangePage<Account>>> {
    stream.try_collect().await
}

#[tokio::test]
async fn a_first_sync_pages_with_the_preference_and_ends_with_a_delta_link() {
    let stub = Stub::start(|request| {
        let base = format!("http://{}", request.header("host").unwrap_or_default());
        match request.query.as_deref() {
            Some("%24select=name") => Reply::json(
                200,
                serde_json::json!({
                    "value": [{"name": "A"}],
                    "@odata.nextLink": format!("{base}/api/data/v9.2/accounts?$select=name&$skiptoken=p2"),
                })
                .to_string(),
            )
            .header("Preference-Applied", "odata.track-changes"),
            _ => Reply::json(
                200,
                serde_json::json!({
                    "value": [{"name": "B"}],
                    "@odata.deltaLink": format!("{base}/api/data/v9.2/accounts?$select=name&$deltatoken=7%2101"),
                })
                .to_string(),
            ),
        }
    })
    .await;
    let client = stub.client();

    let pages = collect(client.changes::<Account>(&["name"], None, Some(2)))
        .await
        .unwrap();

    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].changes, [Change::Upserted(named("A"))]);
    assert_eq!(pages[0].delta_link, None, "only the last page has one");
    assert_eq!(pages[1].changes, [Change::Upserted(named("B"))]);
    assert_eq!(
        pages[1].delta_link.as_ref().map(DeltaLink::as_str),
        Some(
            format!(
                "{}/api/data/v9.2/accounts?$select=name&$deltatoken=7%2101",
                stub.url
            )
            .as_str()
        )
    );
    let requests = stub.requests_to("/accounts");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].query.as_deref(), Some("%24select=name"));
    assert_eq!(
        requests[1].query.as_deref(),
        Some("$select=name&$skiptoken=p2"),
        "the next link is followed as given"
    );
    for request in &requests {
        let prefer: Vec<&str> = request
            .headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert!(prefer.contains(&"odata.track-changes"), "{prefer:?}");
        assert!(prefer.contains(&"odata.maxpagesize=2"), "{prefer:?}");
    }
}

#[tokio::test]
async fn a_later_sync_follows_its_delta_link_and_reads_deletions() {
    let stub = Stub::start(move |_| {
        Reply::json(
            200,
            serde_json::json!({
                "@odata.context": "x/$metadata#accounts(name)/$delta",
                "value": [
                    {"name": "Changed"},
                    {"@odata.context": "x/$metadata#accounts/$deletedEntity", "id": DELETED, "reason": "deleted"},
                ],
                "@odata.deltaLink": "ignored here",
            })
            .to_string(),
        )
    })
    .await;
    let client = stub.client();
    let since = DeltaLink::new(format!(
        "{}/api/data/v9.2/accounts?$select=name&$deltatoken=7%2101",
        stub.url
    ));

    let pages = collect(client.changes::<Account>(&["ignored"], Some(&since), None))
        .await
        .unwrap();

    assert_eq!(
        pages[0].changes,
        [
            Change::Upserted(named("Changed")),
            Change::Deleted(Uuid::parse_str(DELETED).unwrap())
        ]
    );
    let requests = stub.requests_to("/accounts");
    assert_eq!(
        requests[0].query.as_deref(),
        Some("$select=name&$deltatoken=7%2101"),
        "the delta link is followed as given; the columns come from it"
    );
    assert_eq!(requests[0].header("prefer"), Some("odata.track-changes"));
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_sent() {
    let stub = Stub::start(|_| Reply::json(200, r#"{"value":[]}"#)).await;
    let client = stub.client();

    let elsewhere =
        DeltaLink::new("https://elsewhere.example/api/data/v9.2/accounts?$deltatoken=1");
    let e = collect(client.changes::<Account>(&[], Some(&elsewhere), None))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");

    for size in [0, 5001] {
        let e = collect(client.changes::<Account>(&[], None, Some(size)))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("page size"), "{e}");
    }
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn a_table_without_change_tracking_is_the_services_typed_error() {
    let stub = Stub::start(|_| {
        Reply::error(
            400,
            "0x80040203",
            "Entity: account isn't enabled for change tracking.",
        )
    })
    .await;
    let e = collect(stub.client().changes::<Account>(&[], None, None))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    assert!(
        e.to_string().contains("isn't enabled for change tracking"),
        "{e}"
    );
}

#[tokio::test]
async fn a_next_link_answered_with_itself_is_an_error_not_a_loop() {
    let stub = Stub::start(|request| {
        let base = format!("http://{}", request.header("host").unwrap_or_default());
        Reply::json(
            200,
            serde_json::json!({
                "value": [],
                "@odata.nextLink": format!("{base}/api/data/v9.2/accounts?$skiptoken=same"),
            })
            .to_string(),
        )
    })
    .await;
    let e = collect(stub.client().changes::<Account>(&[], None, None))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already followed"), "{e}");
    assert_eq!(stub.requests().len(), 2);
}

/// Every change of a sync through the client, and the link of the next one.
async fn sync_all(
    client: &dynamics_client::Client,
    since: Option<&DeltaLink>,
    page_size: Option<u32>,
) -> (Vec<Change<Account>>, Option<DeltaLink>, usize) {
    let pages = collect(client.changes::<Account>(&["name"], since, page_size))
        .await
        .unwrap();
    let count = pages.len();
    let link = pages.iter().rev().find_map(|p| p.delta_link.clone());
    let changes = pages.into_iter().flat_map(|p| p.changes).collect();
    (changes, link, count)
}

#[tokio::test]
async fn syncs_against_the_emulator_see_creates_updates_and_deletes_once() {
    let env = support::emulated::start().await;
    let accounts: Vec<serde_json::Value> = (0..5)
        .map(|i| serde_json::json!({ "name": format!("Seeded {i}") }))
        .collect();
    env.emulator
        .seed(&serde_json::json!({ "accounts": accounts }))
        .unwrap();
    let (client, _) = env.client();

    // The first sync: every record, two per page, and a delta link on the last page only.
    let (first, link, pages) = sync_all(&client, None, Some(2)).await;
    assert_eq!(pages, 3);
    assert_eq!(first.len(), 5);
    assert!(first.iter().all(|c| matches!(c, Change::Upserted(_))));
    let link = link.unwrap();

    // Changes: one created, one updated, one deleted, one created and deleted again.
    let created = client.create(&named("Created")).await.unwrap();
    let ids: Vec<Uuid> = first
        .iter()
        .filter_map(|c| match c {
            Change::Upserted(a) => a.id,
            Change::Deleted(_) => None,
        })
        .collect();
    client.update(ids[0], &named("Renamed")).await.unwrap();
    client.delete::<Account>(ids[1]).await.unwrap();
    let fleeting = client.create(&named("Fleeting")).await.unwrap();
    client.delete::<Account>(fleeting).await.unwrap();

    let (delta, next, _) = sync_all(&client, Some(&link), None).await;
    let mut upserted: Vec<(Option<Uuid>, Option<String>)> = delta
        .iter()
        .filter_map(|c| match c {
            Change::Upserted(a) => Some((a.id, a.name.clone())),
            Change::Deleted(_) => None,
        })
        .collect();
    upserted.sort();
    let mut expected = vec![
        (Some(created), Some("Created".to_owned())),
        (Some(ids[0]), Some("Renamed".to_owned())),
    ];
    expected.sort();
    assert_eq!(upserted, expected);
    let mut deleted: Vec<Uuid> = delta
        .iter()
        .filter_map(|c| match c {
            Change::Deleted(id) => Some(*id),
            Change::Upserted(_) => None,
        })
        .collect();
    deleted.sort();
    let mut gone = vec![ids[1], fleeting];
    gone.sort();
    assert_eq!(deleted, gone);
    // Deletions come after the records, as Dataverse sends them.
    let first_deletion = delta
        .iter()
        .position(|c| matches!(c, Change::Deleted(_)))
        .unwrap();
    assert!(
        delta[first_deletion..]
            .iter()
            .all(|c| matches!(c, Change::Deleted(_)))
    );

    // Nothing since: an empty delta with a new link.
    let (nothing, again, _) = sync_all(&client, next.as_ref(), None).await;
    assert!(nothing.is_empty(), "{nothing:?}");
    assert!(again.is_some());
}

#[tokio::test]
async fn a_table_without_change_tracking_is_refused_by_the_emulator() {
    let env = support::emulated::start().await;
    let (client, _) = env.client();
    /// The sample's `task` table, whose entity set does not track changes.
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct Task {
        activityid: Option<Uuid>,
    }
    impl dynamics_client::Entity for Task {
        const LOGICAL_NAME: &'static str = "task";
        const ENTITY_SET_NAME: &'static str = "tasks";
        const PRIMARY_KEY: &'static str = "activityid";
        fn id(&self) -> Option<Uuid> {
            self.activityid
        }
    }
    let e = client
        .changes::<Task>(&[], None, None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    assert!(
        e.to_string().contains("isn't enabled for change tracking"),
        "{e}"
    );
}

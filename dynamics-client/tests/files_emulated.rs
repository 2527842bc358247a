//! File columns end to end against dynamics-emulator: a file over 4 MiB goes up in chunks and
//! a small one in one request, both come back byte for byte with their name and type, and
//! deleting them leaves nothing to download.

#![allow(clippy::unwrap_used)]

mod support;

use dynamics_client::{Client, Error};
use serde_json::Value;
use support::emulated::{Env, start, start_with};
use support::{Account, named};
use uuid::Uuid;

const COLUMN: &str = "new_contract";
const UPLOADS: &str = "PATCH /api/data/v9.2/accounts(..)/new_contract";
const DOWNLOADS: &str = "GET /api/data/v9.2/accounts(..)/new_contract/$value";

/// Bytes that differ from chunk to chunk, so a chunk put in the wrong place shows.
fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 12)) as u8)
        .collect()
}

/// The file column's id and name, as reading the record shows them.
async fn shown(client: &Client, id: Uuid) -> (Value, Value) {
    let record: Value = client
        .get(&format!(
            "accounts({id})?$select=new_contract,new_contract_name"
        ))
        .await
        .unwrap();
    (
        record["new_contract"].clone(),
        record["new_contract_name"].clone(),
    )
}

fn count(env: &Env, route: &str) -> u64 {
    env.emulator.controls().request_count(route)
}

#[tokio::test]
async fn large_and_small_files_go_up_and_come_back_whole() {
    let env = start().await;
    let (client, _) = env.client();
    let large_id = client.create(&named("Large file")).await.unwrap();
    let small_id = client.create(&named("Small file")).await.unwrap();
    let large = content(4 * 1024 * 1024 + 1234);
    let small = b"Delivery on Mondays.\n".to_vec();

    client
        .upload_file::<Account>(large_id, COLUMN, "contract.pdf", &large)
        .await
        .unwrap();
    assert_eq!(
        count(&env, UPLOADS),
        3,
        "an opening and two chunks of at most 4 MiB"
    );
    client
        .upload_file::<Account>(small_id, COLUMN, "notes.txt", &small)
        .await
        .unwrap();
    assert_eq!(count(&env, UPLOADS), 4, "one request for the small file");

    let (file_id, name) = shown(&client, large_id).await;
    assert!(
        Uuid::parse_str(file_id.as_str().unwrap()).is_ok(),
        "{file_id}"
    );
    assert_eq!(name, "contract.pdf");

    let file = client
        .download_file::<Account>(large_id, COLUMN)
        .await
        .unwrap();
    assert_eq!(file.content.len(), large.len());
    assert!(
        file.content == large,
        "the large file comes back byte for byte"
    );
    assert_eq!(file.name.as_deref(), Some("contract.pdf"));
    assert_eq!(file.mime_type.as_deref(), Some("application/pdf"));
    assert_eq!(count(&env, DOWNLOADS), 2, "in two ranges of 4 MiB");

    let file = client
        .download_file::<Account>(small_id, COLUMN)
        .await
        .unwrap();
    assert_eq!(file.content, small);
    assert_eq!(file.name.as_deref(), Some("notes.txt"));
    assert_eq!(file.mime_type.as_deref(), Some("text/plain"));

    for id in [large_id, small_id] {
        client.delete_file::<Account>(id, COLUMN).await.unwrap();
        let gone = client
            .download_file::<Account>(id, COLUMN)
            .await
            .unwrap_err();
        assert!(
            matches!(&gone, Error::NotFound(e) if e.code == "0x80060891"),
            "{gone}"
        );
        assert_eq!(shown(&client, id).await, (Value::Null, Value::Null));
    }
}

#[tokio::test]
async fn a_name_outside_ascii_goes_in_chunks_and_is_kept() {
    let env = start().await;
    let (client, _) = env.client();
    let id = client.create(&named("Unicode")).await.unwrap();
    let name = "Vertrag für Ø.txt";
    client
        .upload_file::<Account>(id, COLUMN, name, b"Inhalt")
        .await
        .unwrap();
    assert_eq!(count(&env, UPLOADS), 2, "an opening and one chunk");
    assert_eq!(shown(&client, id).await.1, name);
    let file = client.download_file::<Account>(id, COLUMN).await.unwrap();
    assert_eq!(file.content, b"Inhalt");
    assert_eq!(file.mime_type.as_deref(), Some("text/plain"));
    assert_eq!(
        file.name.as_deref(),
        Some(name),
        "the name's UTF-8 bytes are read back"
    );
}

#[tokio::test]
async fn a_file_over_the_column_limit_is_refused() {
    let env = start_with(|builder| builder.max_file_size_kb(4)).await;
    let (client, _) = env.client();
    let id = client.create(&named("Limited")).await.unwrap();
    let e = client
        .upload_file::<Account>(id, COLUMN, "big.txt", &content(4 * 1024 + 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Api(api) if api.code == "0x80044a02"),
        "{e}"
    );
    client
        .upload_file::<Account>(id, COLUMN, "fits.txt", &content(4 * 1024))
        .await
        .unwrap();
    assert_eq!(shown(&client, id).await.1, "fits.txt");
}

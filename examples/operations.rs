//! Actions and functions as typed requests: `cargo run --example operations`.
//!
//! Asks who the app is (`WhoAmI`) and reads its user record, then calls a function with
//! parameters (`GetTimeZoneCodeByLocalizedName`), once with a name the service knows and once
//! with one it refuses, which comes back as a typed error. The requests and their answers are
//! generated from the metadata, like the tables: naming an unbound operation's import name in
//! `entities` is all it takes. Offline on the embedded emulator by default, where the
//! function's behaviour is given to the emulator below; against a real environment when
//! `DYNAMICS_URL` and the `AZURE_*` variables are set (`--help`).

use std::process::ExitCode;

use dynamics_client::Result;
use dynamics_emulator::{ActionError, EmulatorBuilder};
use dynamics_examples::{Environment, run_example_with};

dynamics_client::dynamics_entities! {
    metadata = "../dynamics-codegen/tests/fixtures/sample.xml",
    entities = [systemuser, WhoAmI, GetTimeZoneCodeByLocalizedName],
}

use operations::{GetTimeZoneCodeByLocalizedName, WhoAmI};

#[tokio::main]
async fn main() -> ExitCode {
    run_example_with(
        "operations: call Dataverse functions with typed requests and answers.",
        emulate_time_zones,
        async |environment| run(environment).await,
    )
    .await
}

async fn run(environment: &Environment) -> Result<()> {
    let client = &environment.client;

    // An unbound function without parameters; its answer is a generated struct.
    let me = client.execute(&WhoAmI).await?;
    let user_id = me.user_id.unwrap_or_default();
    println!(
        "WhoAmI: user {user_id}, business unit {}",
        me.business_unit_id
            .map(|id| id.to_string())
            .unwrap_or_default()
    );
    let user = client
        .systemusers()
        .retrieve_columns(user_id, (Systemuser::FULLNAME, Systemuser::APPLICATIONID))
        .await?;
    println!(
        "the app's user: {:?}, application id {}",
        user.fullname.unwrap_or_default(),
        user.applicationid
            .map(|id| id.to_string())
            .unwrap_or_default()
    );

    // A function with parameters: each is a typed field, sent as a parameter alias.
    let pacific = client
        .execute(&GetTimeZoneCodeByLocalizedName {
            localized_standard_name: "Pacific Standard Time".into(),
            locale_id: 1033,
        })
        .await?;
    println!(
        "time zone code of Pacific Standard Time: {}",
        pacific.time_zone_code.unwrap_or_default()
    );

    // What the service refuses is a typed error with its status and Dataverse error code.
    let refused = client
        .execute(&GetTimeZoneCodeByLocalizedName {
            localized_standard_name: "Atlantis Standard Time".into(),
            locale_id: 1033,
        })
        .await;
    match refused {
        Ok(answer) => println!(
            "Atlantis Standard Time has a code, surprisingly: {:?}",
            answer.time_zone_code
        ),
        Err(e) => println!(
            "Atlantis Standard Time refused: status {}, {e}",
            e.status().unwrap_or_default()
        ),
    }
    Ok(())
}

/// What Dataverse answers for a few of its time zones; the emulator knows operations only
/// from the metadata, so an example (or a test) gives them their behaviour.
fn emulate_time_zones(emulator: EmulatorBuilder) -> EmulatorBuilder {
    emulator.action("GetTimeZoneCodeByLocalizedName", |call| {
        let code = match call.parameters["LocalizedStandardName"].as_str() {
            Some("Pacific Standard Time") => 4,
            Some("Eastern Standard Time") => 35,
            Some("GMT Standard Time") => 85,
            Some("W. Europe Standard Time") => 110,
            Some("Tokyo Standard Time") => 235,
            // The refusal's wording is this example's own.
            _ => {
                return Err(ActionError::bad_request(
                    "No time zone has this localized standard name.",
                ));
            }
        };
        Ok(serde_json::json!({ "TimeZoneCode": code }))
    })
}

//! The deterministic side of the `record` fuzz target (`fuzz/fuzz_targets/record.rs`): its
//! committed corpus and seeded mutations of a Dataverse answer, given to generated records.
//! Whatever the bytes, decoding ends in a record or an error, and a record that decoded
//! serializes into JSON that decodes again.

use dynamics_client::__private::serde::Serialize;
use dynamics_client::__private::serde::de::DeserializeOwned;
use dynamics_client::__private::serde_json;
use dynamics_test_support::{Rng, fuzz_corpus};
use dynamics_tests::with_choices::{Account, Contact, NewProject};

/// Decodes `bytes` as `T`; when that works, the record's own JSON must decode too.
fn decodes_or_refuses<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> bool {
    let Ok(record) = serde_json::from_slice::<T>(bytes) else {
        return false;
    };
    let json = serde_json::to_vec(&record).expect("a decoded record serializes");
    if let Err(e) = serde_json::from_slice::<T>(&json) {
        panic!(
            "{} does not decode its own JSON {}: {e}",
            std::any::type_name::<T>(),
            String::from_utf8_lossy(&json)
        );
    }
    true
}

/// Every generated type of the fuzz target; the number that accepted the bytes.
fn check_any_record(bytes: &[u8]) -> usize {
    usize::from(decodes_or_refuses::<Account>(bytes))
        + usize::from(decodes_or_refuses::<Contact>(bytes))
        + usize::from(decodes_or_refuses::<NewProject>(bytes))
}

#[test]
fn the_fuzz_corpus_replays() {
    for input in fuzz_corpus("record") {
        check_any_record(&input);
    }
}

const ANSWER: &str = r#"{"@odata.etag":"W/\"4567123\"","accountid":"5531d753-95af-e711-a94e-000d3a11e605","name":"Contoso, Ltd.","revenue":1234567890123.4567,"revenue@OData.Community.Display.V1.FormattedValue":"$1,234,567,890,123.46","numberofemployees":null,"creditonhold":false,"industrycode":4,"createdon":"2024-03-01T09:15:00Z","_parentaccountid_value":"00000000-0000-0000-0000-000000000001","_parentaccountid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"account","lastname":"Smith","birthdate":"1990-02-28","new_budget":12.50}"#;

#[test]
fn seeded_mutations_of_an_answer_decode_or_refuse() {
    let mut rng = Rng::new(0x0dec_0de5);
    let mut next = move |below: usize| rng.below(below);
    let pieces: [&[u8]; 14] = [
        b"\"",
        b"null",
        b"1e400",
        b"-0",
        b"99999999999999999999999999999",
        b"\"2024-02-30T25:61:00Z\"",
        b"\"not-a-guid\"",
        b"[",
        b"{}",
        b",\"industrycode\":\"4\"",
        b"\\u0000",
        b"\\ud800",
        b"\xff",
        b"",
    ];
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..5_000 {
        let mut bytes = ANSWER.as_bytes().to_vec();
        for _ in 0..1 + next(3) {
            let at = next(bytes.len() + 1);
            match next(3) {
                0 => {
                    let end = (at + next(12)).min(bytes.len());
                    bytes.drain(at..end);
                }
                1 => {
                    let piece = pieces[next(pieces.len())];
                    bytes.splice(at..at, piece.iter().copied());
                }
                _ => {
                    let end = (at + next(40)).min(bytes.len());
                    let copy = bytes[at..end].to_vec();
                    let to = next(bytes.len() + 1);
                    bytes.splice(to..to, copy);
                }
            }
        }
        match check_any_record(&bytes) {
            0 => refused += 1,
            _ => accepted += 1,
        }
    }
    // Both ways out are taken, or the mutations do not reach the decoders' checks.
    assert!(
        accepted >= 250 && refused >= 250,
        "{accepted} accepted, {refused} refused"
    );
}

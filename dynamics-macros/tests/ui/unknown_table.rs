dynamics_macros::dynamics_entities! {
    metadata = "tests/fixtures/tables.xml",
    entities = [account, acount],
}

fn main() {}

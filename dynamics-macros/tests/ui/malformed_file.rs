dynamics_macros::dynamics_entities! {
    metadata = "tests/fixtures/malformed.xml",
    entities = [account],
}

fn main() {}

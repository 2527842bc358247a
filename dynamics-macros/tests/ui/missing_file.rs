dynamics_macros::dynamics_entities! {
    metadata = "tests/fixtures/no-such-file.xml",
    entities = [account],
}

fn main() {}

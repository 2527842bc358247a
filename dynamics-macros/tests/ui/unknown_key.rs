dynamics_macros::dynamics_entities! {
    metadata = "tests/fixtures/tables.xml",
    tables = [account],
}

fn main() {}

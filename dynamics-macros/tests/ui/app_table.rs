// Tables of Dynamics 365 apps exist only where the app is installed: the error says so.
dynamics_macros::dynamics_entities! {
    metadata = "tests/fixtures/tables.xml",
    entities = [opportunity],
}

fn main() {}

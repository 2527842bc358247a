dynamics_macros::dynamics_entities! {
    metadata = "/etc/metadata.xml",
    entities = [account],
}

fn main() {}

// A filter on one table cannot be given to a query of another.
use dynamics_client::Query;
use dynamics_tests::built::{Account, Contact};

fn main() {
    let _ = Query::<Account>::new().filter(Contact::LASTNAME.eq("x"));
}

// Text functions exist only on text columns.
use dynamics_tests::built::Account;

fn main() {
    let _ = Account::NUMBEROFEMPLOYEES.contains("many");
}

// A polymorphic lookup takes its enum of targets, not a bare id.
use dynamics_tests::built::Contact;

fn main() {
    let mut contact = Contact::default();
    contact.set_parentcustomerid(dynamics_client::__private::uuid::Uuid::nil());
}

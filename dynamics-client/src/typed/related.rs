//! Collection-valued navigation properties: `any`/`all` lambdas in `$filter`
//! (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/filter-rows#filter-using-values-of-related-collections>)
//! and `$expand` with nested options
//! (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/join-tables>).
//!
//! Inside a lambda the related table's columns are read through the lambda's variable; a
//! column used without it does not compile:
//!
//! ```compile_fail
//! # use dynamics_client::{Column, Related};
//! struct Account;
//! struct Task;
//! const TASKS: Related<Account, Task> = Related::new("Account_Tasks");
//! const STATE: Column<Task, i32> = Column::new("statecode");
//! let _ = TASKS.any(|_t| STATE.eq(0)); // `t.col(STATE)` is required
//! ```

use std::fmt;
use std::marker::PhantomData;

use super::column::{Column, Filter};

/// Lambda variables by nesting depth; the outermost lambda uses the first.
const VARIABLES: [&str; 8] = ["a", "b", "c", "d", "f", "g", "h", "k"];

/// A collection-valued navigation property of table `E` whose records are `T`
/// (`Related::<Account, Task>::new("Account_Tasks")`).
pub struct Related<E, T> {
    name: &'static str,
    marker: PhantomData<fn() -> (E, T)>,
}

impl<E, T> Related<E, T> {
    /// The navigation property with this name (as `$metadata` spells it).
    pub const fn new(name: &'static str) -> Self {
        Related {
            name,
            marker: PhantomData,
        }
    }

    /// The navigation property's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Some related record satisfies `condition` (`nav/any(a:...)`). The closure gets the
    /// lambda variable, through which it reads the related table's columns.
    pub fn any(self, condition: impl FnOnce(Each<T>) -> Filter<Each<T>>) -> Filter<E> {
        lambda(self.name, "any", 0, condition)
    }

    /// Every related record satisfies `condition` (`nav/all(a:...)`); true when there is none.
    pub fn all(self, condition: impl FnOnce(Each<T>) -> Filter<Each<T>>) -> Filter<E> {
        lambda(self.name, "all", 0, condition)
    }

    /// There is at least one related record (`nav/any()`).
    pub fn exists(self) -> Filter<E> {
        Filter::new(format!("{}/any()", self.name))
    }
}

/// `path/any(v:condition)` with the variable of `depth`.
fn lambda<E, T>(
    path: &str,
    operator: &str,
    depth: usize,
    condition: impl FnOnce(Each<T>) -> Filter<Each<T>>,
) -> Filter<E> {
    // Deeper nesting than the variables allow reuses the last: Dataverse refuses such
    // queries long before (a lambda may nest only a few levels).
    let variable = VARIABLES[depth.min(VARIABLES.len() - 1)];
    let inner = condition(Each {
        variable,
        depth,
        marker: PhantomData,
    });
    Filter::new(format!("{path}/{operator}({variable}:{inner})"))
}

/// One record of a related collection, inside an `any`/`all` lambda.
pub struct Each<T> {
    variable: &'static str,
    depth: usize,
    marker: PhantomData<fn() -> T>,
}

impl<T> Each<T> {
    /// `column` of the related record: `a/column`.
    pub fn col<V>(&self, column: Column<T, V>) -> Column<Each<T>, V> {
        column.scoped(self.variable)
    }

    /// Some record of the related record's own collection satisfies `condition`
    /// (`a/nav/any(b:...)`).
    pub fn any<U>(
        &self,
        related: Related<T, U>,
        condition: impl FnOnce(Each<U>) -> Filter<Each<U>>,
    ) -> Filter<Each<T>> {
        let path = format!("{}/{}", self.variable, related.name);
        lambda(&path, "any", self.depth + 1, condition)
    }

    /// Every record of the related record's own collection satisfies `condition`.
    pub fn all<U>(
        &self,
        related: Related<T, U>,
        condition: impl FnOnce(Each<U>) -> Filter<Each<U>>,
    ) -> Filter<Each<T>> {
        let path = format!("{}/{}", self.variable, related.name);
        lambda(&path, "all", self.depth + 1, condition)
    }
}

impl<E, T> Clone for Related<E, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E, T> Copy for Related<E, T> {}

impl<E, T> fmt::Debug for Related<E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Related").field(&self.name).finish()
    }
}

impl<T> fmt::Debug for Each<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Each").field(&self.variable).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Account;
    struct Contact;
    struct Task;
    const TASKS: Related<Account, Task> = Related::new("Account_Tasks");
    const CONTACTS: Related<Account, Contact> = Related::new("contact_customer_accounts");
    const CONTACT_TASKS: Related<Contact, Task> = Related::new("Contact_Tasks");
    const STATE: Column<Task, i32> = Column::new("statecode");
    const SUBJECT: Column<Task, String> = Column::new("subject");
    const JOB: Column<Contact, String> = Column::new("jobtitle");

    /// The documented examples, written through the typed API.
    #[test]
    fn lambdas_read_through_their_variable() {
        assert_eq!(
            TASKS.all(|t| t.col(STATE).eq(1)).as_str(),
            "Account_Tasks/all(a:a/statecode eq 1)"
        );
        assert_eq!(
            TASKS
                .any(|t| t.col(SUBJECT).contains("x'y").and(t.col(STATE).eq(0)))
                .as_str(),
            "Account_Tasks/any(a:(contains(a/subject,'x''y')) and (a/statecode eq 0))"
        );
        assert_eq!(
            CONTACTS
                .any(|c| c
                    .col(JOB)
                    .eq("x")
                    .and(c.any(CONTACT_TASKS, |t| t.col(STATE).ne(2))))
                .as_str(),
            "contact_customer_accounts/any(a:(a/jobtitle eq 'x') and (a/Contact_Tasks/any(b:b/statecode ne 2)))"
        );
        assert_eq!(TASKS.exists().as_str(), "Account_Tasks/any()");
    }
}

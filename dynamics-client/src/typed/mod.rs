//! The typed layer that generated code stands on: columns, filters, queries, lookups and
//! entity sets. Everything with logic lives here, tested once, so that generated code stays
//! thin.

mod alternate_key;
mod annotated;
mod apply;
mod bind;
mod choice;
pub mod codec;
#[doc(hidden)]
pub mod choice_wire {
    //! Used by generated choice enums. Not public API.
    pub use super::choice::{deserialize, serialize};
}
mod column;
pub(crate) mod edm;
mod entity_set;
mod function;
mod literal;
mod query;
#[doc(hidden)]
pub mod record;
mod related;

pub use alternate_key::AlternateKey;
pub use annotated::{
    ASSOCIATED_NAVIGATION_PROPERTY, Annotated, FORMATTED_VALUE, LOOKUP_LOGICAL_NAME,
};
pub use apply::{AGGREGATE_RECORD_LIMIT, Aggregate, Apply, ApplyRow};
pub use bind::{Bind, Binds};
pub use choice::{Choice, MultiChoice};
pub use column::{Column, Filter, OrderBy};
pub use entity_set::EntitySet;
pub use function::{Identifier, MAX_URL_LENGTH, Numeric, Ordered, Temporal};
pub use literal::{Literal, literal};
pub use query::{Columns, Query};
pub use related::{Each, Related};

//! Records read with `Prefer: odata.include-annotations`: the typed record plus its
//! annotations (formatted values, lookup target tables).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use uuid::Uuid;

use super::column::Column;

/// `OData.Community.Display.V1.FormattedValue`.
pub const FORMATTED_VALUE: &str = "OData.Community.Display.V1.FormattedValue";
/// `Microsoft.Dynamics.CRM.lookuplogicalname`.
pub const LOOKUP_LOGICAL_NAME: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";
/// `Microsoft.Dynamics.CRM.associatednavigationproperty`.
pub const ASSOCIATED_NAVIGATION_PROPERTY: &str =
    "Microsoft.Dynamics.CRM.associatednavigationproperty";

/// A record with the annotations the service sent beside its columns.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Annotated<E> {
    /// The typed record.
    pub record: E,
    /// Every `column@term` member of the answer, by its full key.
    pub annotations: BTreeMap<String, Value>,
}

impl<E> Annotated<E> {
    /// The annotation `term` of a column.
    pub fn annotation<T>(&self, column: Column<E, T>, term: &str) -> Option<&Value> {
        self.annotations.get(&format!("{}@{term}", column.name()))
    }

    /// The column's value as the service displays it (`$1,000.00`, `Preferred Customer`, the
    /// name of the record a lookup points at).
    pub fn formatted<T>(&self, column: Column<E, T>) -> Option<&str> {
        self.annotation(column, FORMATTED_VALUE)
            .and_then(Value::as_str)
    }

    /// The table a lookup points at (`account`), which tells the targets of a polymorphic
    /// lookup apart.
    pub fn lookup_logical_name(&self, column: Column<E, Uuid>) -> Option<&str> {
        self.annotation(column, LOOKUP_LOGICAL_NAME)
            .and_then(Value::as_str)
    }
}

/// Only the `name@term` members of a JSON object; the rest is skipped unread.
#[derive(Default)]
pub(crate) struct AnnotationsOnly(pub BTreeMap<String, Value>);

impl<'de> Deserialize<'de> for AnnotationsOnly {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Only;
        impl<'de> Visitor<'de> for Only {
            type Value = AnnotationsOnly;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    // `name@term` is a property annotation; `@odata.*` alone is not.
                    if key.find('@').is_some_and(|at| at > 0) {
                        out.insert(key, map.next_value::<Value>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(AnnotationsOnly(out))
            }
        }
        deserializer.deserialize_map(Only)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Account;
    const PARENT: Column<Account, Uuid> =
        Column::lookup("_parentaccountid_value", "parentaccountid");
    const REVENUE: Column<Account, i64> = Column::new("revenue");

    #[test]
    fn keeps_only_property_annotations() {
        let body = r#"{"@odata.etag":"W/\"1\"","revenue":5,
            "revenue@OData.Community.Display.V1.FormattedValue":"$5.00",
            "_parentaccountid_value":"00000000-0000-0000-0000-000000000001",
            "_parentaccountid_value@Microsoft.Dynamics.CRM.lookuplogicalname":"account",
            "nested":{"a@b":1}}"#;
        let only: AnnotationsOnly = serde_json::from_str(body).unwrap();
        assert_eq!(only.0.len(), 2);
        let annotated = Annotated {
            record: (),
            annotations: only.0,
        };
        let annotated = Annotated::<Account> {
            record: Account,
            annotations: annotated.annotations,
        };
        assert_eq!(annotated.formatted(REVENUE), Some("$5.00"));
        assert_eq!(annotated.lookup_logical_name(PARENT), Some("account"));
        assert_eq!(annotated.formatted(PARENT), None);
    }
}

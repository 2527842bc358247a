//! Setting lookups: `"<navigation property>@odata.bind": "/<entity set>(<id>)"`.

use uuid::Uuid;

/// One lookup to set on create or update. Generated `set_*` methods make these with the exact
/// navigation property name (case matters to Dataverse) and the target's entity set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bind {
    navigation_property: &'static str,
    entity_set: &'static str,
    id: Uuid,
}

impl Bind {
    /// Points `navigation_property` at the record `id` of `entity_set`.
    pub fn new(navigation_property: &'static str, entity_set: &'static str, id: Uuid) -> Self {
        Bind {
            navigation_property,
            entity_set,
            id,
        }
    }

    /// The navigation property (`parentcustomerid_account`).
    pub fn navigation_property(&self) -> &'static str {
        self.navigation_property
    }

    /// The JSON member name, `<navigation property>@odata.bind`.
    pub fn key(&self) -> String {
        format!("{}@odata.bind", self.navigation_property)
    }

    /// The JSON value, `/<entity set>(<id>)`.
    pub fn value(&self) -> String {
        format!("/{}({})", self.entity_set, self.id.hyphenated())
    }
}

/// The lookups set on a record, sent with its next create or update. Setting a lookup again
/// replaces the earlier value, whichever target table it had.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Binds {
    binds: Vec<Bind>,
}

impl Binds {
    /// Sets a lookup, replacing an earlier value set through the same navigation property.
    /// A polymorphic lookup has one navigation property per target table
    /// (`parentcustomerid_account`, `parentcustomerid_contact`): generated setters
    /// [`unset`](Self::unset) them all first, so that a new target replaces the old one.
    pub fn set(&mut self, bind: Bind) {
        self.binds
            .retain(|b| b.navigation_property != bind.navigation_property);
        self.binds.push(bind);
    }

    /// Removes every lookup set through one of these navigation properties.
    pub fn unset(&mut self, navigation_properties: &[&str]) {
        self.binds
            .retain(|b| !navigation_properties.contains(&b.navigation_property));
    }

    /// The lookups set, in the order they were set.
    pub fn iter(&self) -> impl Iterator<Item = &Bind> {
        self.binds.iter()
    }

    /// Whether no lookup is set.
    pub fn is_empty(&self) -> bool {
        self.binds.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_again_replaces() {
        let mut binds = Binds::default();
        binds.set(Bind::new("parentaccountid", "accounts", Uuid::nil()));
        let other = Uuid::from_u128(1);
        binds.set(Bind::new("parentaccountid", "accounts", other));
        let all: Vec<_> = binds.iter().collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].key(), "parentaccountid@odata.bind");
        assert_eq!(all[0].value(), format!("/accounts({other})"));
        binds.unset(&["parentaccountid"]);
        assert!(binds.is_empty());
    }
}

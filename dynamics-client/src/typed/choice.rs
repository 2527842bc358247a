//! Choice columns as Rust enums: the contract generated choice enums implement, the set type of
//! multi-select choices, and their wire forms.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A generated choice enum: its integer values and labels.
///
/// Generated enums are `#[non_exhaustive]` with an `Unknown(i32)` variant, so a value added to
/// the environment after the code was generated still reads.
pub trait Choice: Copy + Eq + Ord + Sized {
    /// Every known option: value and label (in the language the code was generated in).
    const OPTIONS: &'static [(i32, &'static str)];

    /// The integer stored and sent on the wire.
    fn value(&self) -> i32;

    /// The variant of a value; unknown values give the `Unknown` variant.
    fn from_value(value: i32) -> Self;

    /// The label of a known option.
    fn label(&self) -> Option<&'static str> {
        let value = self.value();
        Self::OPTIONS
            .iter()
            .find(|(v, _)| *v == value)
            .map(|(_, label)| *label)
    }
}

/// The values of a multi-select choice column. On the wire: `"1,2,3"` (or `null`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MultiChoice<C: Choice> {
    values: BTreeSet<C>,
}

impl<C: Choice> Default for MultiChoice<C> {
    fn default() -> Self {
        MultiChoice {
            values: BTreeSet::new(),
        }
    }
}

impl<C: Choice> MultiChoice<C> {
    /// An empty selection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value; `false` if it was already there.
    pub fn insert(&mut self, choice: C) -> bool {
        self.values.insert(choice)
    }

    /// Removes a value; `false` if it was not there.
    pub fn remove(&mut self, choice: &C) -> bool {
        self.values.remove(choice)
    }

    /// Whether the value is selected.
    pub fn contains(&self, choice: &C) -> bool {
        self.values.contains(choice)
    }

    /// The selected values, in value order.
    pub fn iter(&self) -> impl Iterator<Item = &C> {
        self.values.iter()
    }

    /// How many values are selected.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn wire(&self) -> String {
        self.values
            .iter()
            .map(|c| c.value().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl<C: Choice> FromIterator<C> for MultiChoice<C> {
    fn from_iter<I: IntoIterator<Item = C>>(iter: I) -> Self {
        MultiChoice {
            values: iter.into_iter().collect(),
        }
    }
}

impl<C: Choice + fmt::Debug> fmt::Debug for MultiChoice<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(&self.values).finish()
    }
}

impl<C: Choice> Serialize for MultiChoice<C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.wire())
    }
}

impl<'de, C: Choice> Deserialize<'de> for MultiChoice<C> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<i32>().map(C::from_value).map_err(|_| {
                    D::Error::custom(format!(
                        "invalid multi-select choice value `{part}` in `{text}`: expected integers separated by commas"
                    ))
                })
            })
            .collect()
    }
}

/// Serializes a choice as its integer (used by generated code).
pub fn serialize<C: Choice, S: Serializer>(choice: &C, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_i32(choice.value())
}

/// Reads a choice from its integer (used by generated code). Unknown values are kept.
pub fn deserialize<'de, C: Choice, D: Deserializer<'de>>(deserializer: D) -> Result<C, D::Error> {
    i32::deserialize(deserializer).map(C::from_value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Stage {
        Planning,
        Running,
        Unknown(i32),
    }

    impl Choice for Stage {
        const OPTIONS: &'static [(i32, &'static str)] = &[(1, "Planning"), (2, "Running")];
        fn value(&self) -> i32 {
            match *self {
                Stage::Planning => 1,
                Stage::Running => 2,
                Stage::Unknown(v) => v,
            }
        }
        fn from_value(value: i32) -> Self {
            match value {
                1 => Stage::Planning,
                2 => Stage::Running,
                other => Stage::Unknown(other),
            }
        }
    }

    impl Serialize for Stage {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize(self, s)
        }
    }

    impl<'de> Deserialize<'de> for Stage {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize(d)
        }
    }

    #[test]
    fn single_choices_keep_unknown_values() {
        assert_eq!(serde_json::from_str::<Stage>("2").unwrap(), Stage::Running);
        assert_eq!(
            serde_json::from_str::<Stage>("7").unwrap(),
            Stage::Unknown(7)
        );
        assert_eq!(serde_json::to_string(&Stage::Unknown(7)).unwrap(), "7");
        assert_eq!(Stage::Planning.label(), Some("Planning"));
        assert_eq!(Stage::Unknown(7).label(), None);
        assert!(serde_json::from_str::<Stage>("\"Planning\"").is_err());
    }

    #[test]
    fn multi_select_round_trips_as_comma_separated_text() {
        let set: MultiChoice<Stage> = serde_json::from_str("\"2,1,9\"").unwrap();
        assert_eq!(set.len(), 3);
        assert!(set.contains(&Stage::Unknown(9)));
        assert_eq!(serde_json::to_string(&set).unwrap(), "\"1,2,9\"");
        let empty: MultiChoice<Stage> = serde_json::from_str("\"\"").unwrap();
        assert!(empty.is_empty());
        let error = serde_json::from_str::<MultiChoice<Stage>>("\"1,x\"").unwrap_err();
        assert!(error.to_string().contains("`x`"), "{error}");
    }
}

//! `$apply`: the subset of OData's data aggregation Dataverse documents
//! (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/aggregate-data>):
//! `filter(...)` steps, then `groupby((a,b))`, `groupby((a),aggregate(...))` or
//! `aggregate(...)`, with `sum`, `average`, `min`, `max`, `countdistinct` and `$count`.

use std::collections::HashMap;

use super::fetch::Aggregate;
use super::filter::{self, Expr};
use super::split_top_level;

/// One aggregate: `revenue with sum as total`, or `$count as count` (no property).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Measure {
    pub(crate) property: Option<String>,
    pub(crate) function: Aggregate,
    /// `countdistinct`.
    pub(crate) distinct: bool,
    pub(crate) alias: String,
}

/// A parsed `$apply`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Apply {
    /// The `filter(...)` steps, all of which must hold.
    pub(crate) filters: Vec<Expr>,
    /// The `groupby` properties (`primarycontactid/fullname` through a lookup).
    pub(crate) group_by: Vec<String>,
    pub(crate) measures: Vec<Measure>,
}

fn inside<'t>(step: &'t str, name: &str) -> Option<&'t str> {
    step.strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
}

fn plain_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses an `$apply` value.
pub(crate) fn parse(text: &str, aliases: &HashMap<String, String>) -> Result<Apply, String> {
    let mut apply = Apply::default();
    let mut grouped = false;
    for step in split_top_level(text.trim(), '/') {
        let step = step.trim();
        if grouped {
            return Err(format!(
                "The $apply transformation '{step}' after a groupby or aggregate is not supported."
            ));
        }
        if let Some(condition) = inside(step, "filter") {
            apply.filters.push(filter::parse(condition, aliases)?);
        } else if let Some(arguments) = inside(step, "groupby") {
            let parts = split_top_level(arguments, ',');
            let properties = parts
                .first()
                .and_then(|p| p.trim().strip_prefix('('))
                .and_then(|p| p.strip_suffix(')'))
                .ok_or_else(|| {
                    format!("Syntax error in groupby '{arguments}': expected '(properties)'.")
                })?;
            for property in properties.split(',') {
                let property = property.trim();
                if !property.split('/').all(plain_name) || property.split('/').count() > 2 {
                    return Err(format!("'{property}' is not a property to group by."));
                }
                apply.group_by.push(property.to_owned());
            }
            match parts.as_slice() {
                [_] => {}
                [_, rest] => {
                    let measures = inside(rest.trim(), "aggregate").ok_or_else(|| {
                        format!(
                            "Syntax error in groupby: '{}' is not an aggregate(...).",
                            rest.trim()
                        )
                    })?;
                    apply.measures = self::measures(measures)?;
                }
                _ => return Err(format!("Syntax error in groupby '{arguments}'.")),
            }
            grouped = true;
        } else if let Some(measures) = inside(step, "aggregate") {
            apply.measures = self::measures(measures)?;
            grouped = true;
        } else {
            let name = step.split('(').next().unwrap_or(step);
            return Err(format!(
                "The $apply transformation '{name}' is not supported."
            ));
        }
    }
    if !grouped {
        return Err("The $apply option needs a groupby or an aggregate transformation.".into());
    }
    Ok(apply)
}

fn measures(text: &str) -> Result<Vec<Measure>, String> {
    let mut measures: Vec<Measure> = Vec::new();
    for item in split_top_level(text, ',') {
        let words: Vec<&str> = item.split_whitespace().collect();
        let measure = match words.as_slice() {
            ["$count", "as", alias] => Measure {
                property: None,
                function: Aggregate::Count,
                distinct: false,
                alias: (*alias).to_owned(),
            },
            [property, "with", function, "as", alias] if plain_name(property) => {
                let (function, distinct) = match *function {
                    "sum" => (Aggregate::Sum, false),
                    "average" => (Aggregate::Avg, false),
                    "min" => (Aggregate::Min, false),
                    "max" => (Aggregate::Max, false),
                    "countdistinct" => (Aggregate::CountColumn, true),
                    other => {
                        return Err(format!(
                            "The aggregation method '{other}' is not supported."
                        ));
                    }
                };
                Measure {
                    property: Some((*property).to_owned()),
                    function,
                    distinct,
                    alias: (*alias).to_owned(),
                }
            }
            _ => {
                return Err(format!(
                    "Syntax error in aggregate '{}': expected 'property with method as alias'.",
                    item.trim()
                ));
            }
        };
        if !plain_name(&measure.alias) || measures.iter().any(|m| m.alias == measure.alias) {
            return Err(format!(
                "The alias '{}' is not a valid name or is used twice.",
                measure.alias
            ));
        }
        measures.push(measure);
    }
    Ok(measures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let none = HashMap::new();
        let apply = parse(
            "filter(address1_stateorprovince eq 'WA')/groupby((primarycontactid/fullname,statuscode),aggregate(revenue with sum as total,$count as count))",
            &none,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(apply.filters.len(), 1);
        assert_eq!(apply.group_by, ["primarycontactid/fullname", "statuscode"]);
        assert_eq!(apply.measures.len(), 2);
        assert_eq!(apply.measures[1].function, Aggregate::Count);
        let apply = parse("aggregate(createdon with max as lastCreate)", &none)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(apply.measures[0].function, Aggregate::Max);
        assert!(parse("groupby((statecode,statuscode))", &none).is_ok());
        for bad in [
            "",
            "filter(name eq 'a')",
            "groupby(statecode)",
            "aggregate(revenue with median as m)",
            "aggregate(revenue with sum)",
            "aggregate(revenue with sum as a,revenue with max as a)",
            "aggregate($count as c)/filter(name eq 'a')",
            "compute(revenue mul 2 as double)",
            "groupby((a/b/c))",
        ] {
            assert!(parse(bad, &none).is_err(), "{bad}");
        }
    }
}

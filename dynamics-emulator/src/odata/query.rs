//! System query options: `$select`, `$filter`, `$orderby`, `$top`, `$count`, `$expand` (with
//! nested options) and the `$skiptoken` of our own next links.

use std::collections::HashMap;

use super::filter::{self, Expr};
use super::split_top_level;

/// The options of one request, or of one `$expand` item.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    pub(crate) select: Option<Vec<String>>,
    pub(crate) filter: Option<Expr>,
    /// (property, descending)
    pub(crate) orderby: Vec<(String, bool)>,
    pub(crate) top: Option<usize>,
    pub(crate) count: bool,
    pub(crate) expand: Vec<Expand>,
    /// A FetchXML query (`fetchXml=`), decoded.
    pub(crate) fetch_xml: Option<String>,
    /// Where the next page starts, from a `$skiptoken` this emulator issued.
    pub(crate) skip: Option<usize>,
    /// Every option except `$skiptoken`, still encoded, to build the next link from.
    pub(crate) raw_without_skiptoken: String,
}

/// One `$expand` item.
#[derive(Clone, Debug)]
pub(crate) struct Expand {
    pub(crate) navigation: String,
    pub(crate) query: Query,
}

/// Parses a raw (still percent-encoded) query string.
pub(crate) fn parse(raw: &str) -> Result<Query, String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    let aliases: HashMap<String, String> = pairs
        .iter()
        .filter(|(k, _)| k.starts_with('@'))
        .cloned()
        .collect();
    let mut query = options(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &aliases,
        0,
    )?;
    query.raw_without_skiptoken = raw
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("$skiptoken="))
        .collect::<Vec<_>>()
        .join("&");
    Ok(query)
}

/// `$expand` nests no deeper than this; it also bounds the parser's recursion.
const MAX_EXPAND_DEPTH: usize = 10;

fn options<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    aliases: &HashMap<String, String>,
    depth: usize,
) -> Result<Query, String> {
    if depth > MAX_EXPAND_DEPTH {
        return Err(format!(
            "$expand nests deeper than {MAX_EXPAND_DEPTH} levels."
        ));
    }
    let nested = depth > 0;
    let mut query = Query::default();
    for (name, value) in pairs {
        match name {
            "$select" => {
                let names: Vec<String> = value.split(',').map(|s| s.trim().to_owned()).collect();
                if names.iter().any(String::is_empty) {
                    return Err(format!("Syntax error in $select '{value}'."));
                }
                query.select = Some(names);
            }
            "$filter" => query.filter = Some(filter::parse(value, aliases)?),
            "$orderby" => {
                for item in value.split(',') {
                    let mut words = item.split_whitespace();
                    let property = words.next().ok_or("Empty $orderby item.")?.to_owned();
                    let descending = match words.next() {
                        None | Some("asc") => false,
                        Some("desc") => true,
                        Some(other) => {
                            return Err(format!("Unknown $orderby direction '{other}'."));
                        }
                    };
                    query.orderby.push((property, descending));
                }
            }
            "$top" => {
                query.top = Some(
                    value
                        .parse()
                        .map_err(|_| format!("Invalid value '{value}' for $top query option."))?,
                );
            }
            "$count" => {
                query.count = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(format!("Invalid value '{value}' for $count query option.")),
                }
            }
            "$expand" => {
                for item in split_top_level(value, ',') {
                    query.expand.push(expand(item.trim(), aliases, depth + 1)?);
                }
            }
            "$skiptoken" if !nested => query.skip = Some(skiptoken_offset(value)?),
            "$skip" | "$search" | "$format" | "$apply" | "$compute" | "$levels" | "$index"
            | "$skiptoken" | "$deltatoken" => {
                return Err(format!(
                    "The query parameter {name} is not supported by this service."
                ));
            }
            other if other.starts_with('$') => {
                return Err(format!("The query parameter {other} is not supported."));
            }
            "fetchXml" if !nested => query.fetch_xml = Some(value.to_owned()),
            "fetchXml" | "savedQuery" | "userQuery" => {
                return Err(format!(
                    "The '{name}' parameter is not supported by this emulator."
                ));
            }
            // Parameter aliases (`@p1`) and unknown plain parameters are left to their users.
            _ => {}
        }
    }
    Ok(query)
}

fn expand(item: &str, aliases: &HashMap<String, String>, depth: usize) -> Result<Expand, String> {
    let (navigation, nested) = match item.find('(') {
        Some(open) if item.ends_with(')') => (&item[..open], &item[open + 1..item.len() - 1]),
        Some(_) => return Err(format!("Syntax error in $expand item '{item}'.")),
        None => (item, ""),
    };
    let mut pairs = Vec::new();
    for option in split_top_level(nested, ';') {
        if option.trim().is_empty() {
            continue;
        }
        let (name, value) = option
            .split_once('=')
            .ok_or_else(|| format!("Syntax error in $expand options '{nested}'."))?;
        pairs.push((name.trim(), value.trim()));
    }
    Ok(Expand {
        navigation: navigation.trim().to_owned(),
        query: options(pairs.into_iter(), aliases, depth)?,
    })
}

/// The `$skiptoken` value of the page starting at `offset`, shaped like Dataverse's paging cookie.
pub(crate) fn skiptoken(offset: usize, page: usize) -> String {
    format!(
        "<cookie pagenumber=\"{page}\" pagingcookie=\"%3ccookie%20offset%3d%22{offset}%22%20%2f%3e\" istracking=\"False\" />"
    )
}

fn skiptoken_offset(token: &str) -> Result<usize, String> {
    let invalid = || "The $skiptoken is not valid; follow @odata.nextLink unchanged.".to_owned();
    let marker = "offset%3d%22";
    let start = token.find(marker).ok_or_else(invalid)? + marker.len();
    let digits: String = token[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options_and_nested_expands() {
        let q = parse(
            "$select=name,revenue&$filter=name%20eq%20'a'&$orderby=name desc,revenue&$top=5&$count=true\
             &$expand=primarycontactid($select=fullname;$expand=ownerid),Account_Tasks($top=2;$filter=contains(subject,'x,y'))",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(q.select, Some(vec!["name".into(), "revenue".into()]));
        assert!(q.filter.is_some());
        assert_eq!(
            q.orderby,
            vec![("name".into(), true), ("revenue".into(), false)]
        );
        assert_eq!((q.top, q.count), (Some(5), true));
        assert_eq!(q.expand.len(), 2);
        assert_eq!(q.expand[0].query.expand[0].navigation, "ownerid");
        assert_eq!(q.expand[1].query.top, Some(2));
    }

    #[test]
    fn skiptokens_round_trip_and_unsupported_options_fail() {
        let token = skiptoken(40, 3);
        let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        let q = parse(&format!("$select=name&$skiptoken={encoded}")).unwrap_or_default();
        assert_eq!(q.skip, Some(40));
        assert_eq!(q.raw_without_skiptoken, "$select=name");
        for bad in [
            "$skip=10",
            "$search=x",
            "$top=x",
            "$count=maybe",
            "$expand=a(",
            "$bogus=1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

//! System query options: `$select`, `$filter`, `$orderby`, `$top`, `$count`, `$expand` (with
//! nested options), the `$skiptoken` of our own next links and the `$deltatoken` of our own
//! delta links.

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
    /// `$apply`: grouping and aggregation.
    pub(crate) apply: Option<super::apply::Apply>,
    /// A FetchXML query (`fetchXml=`), decoded.
    pub(crate) fetch_xml: Option<String>,
    /// Where the next page starts, from a `$skiptoken` this emulator issued.
    pub(crate) skip: Option<usize>,
    /// Where the next page of a change-tracking sync starts, from a `$skiptoken` this emulator
    /// issued for one.
    pub(crate) sync: Option<SyncCursor>,
    /// `$deltatoken`, decoded but not yet checked: the request asks for the changes since it.
    pub(crate) delta_token: Option<String>,
    /// Every option except `$skiptoken`, still encoded, to build the next link from.
    pub(crate) raw_without_skiptoken: String,
}

/// Where a change-tracking sync stands between two pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SyncCursor {
    /// The store's change version the sync reads up to: the one its first page was served at.
    pub(crate) upto: u64,
    /// The part of the sync the last page served ended in.
    pub(crate) stage: SyncStage,
    /// The last item served: a record's creation order while the stage is
    /// [`SyncStage::Records`], else the version of its change.
    pub(crate) after: u64,
}

/// The parts of a sync, in the order they are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SyncStage {
    /// A first sync: every record, in creation order.
    Records,
    /// A delta: the records created or changed since the token, in change order.
    Changed,
    /// A delta: then the records deleted since the token, in change order.
    Deleted,
}

impl SyncStage {
    fn name(self) -> &'static str {
        match self {
            SyncStage::Records => "records",
            SyncStage::Changed => "changed",
            SyncStage::Deleted => "deleted",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [SyncStage::Records, SyncStage::Changed, SyncStage::Deleted]
            .into_iter()
            .find(|stage| stage.name() == name)
    }
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
            "$skiptoken" if !nested => match sync_cursor(value)? {
                Some(cursor) => query.sync = Some(cursor),
                None => query.skip = Some(skiptoken_offset(value)?),
            },
            "$deltatoken" if !nested => query.delta_token = Some(value.to_owned()),
            "$apply" if !nested => query.apply = Some(super::apply::parse(value, aliases)?),
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

/// The `$skiptoken` value of a change-tracking sync's page that starts after `cursor`: a paging
/// cookie shaped as [`skiptoken`]'s, marked as tracking.
pub(crate) fn sync_skiptoken(cursor: SyncCursor) -> String {
    format!(
        "<cookie pagingcookie=\"%3ccookie%20upto%3d%22{}%22%20stage%3d%22{}%22%20after%3d%22{}%22%20%2f%3e\" istracking=\"True\" />",
        cursor.upto,
        cursor.stage.name(),
        cursor.after
    )
}

fn invalid_skiptoken() -> String {
    "The $skiptoken is not valid; follow @odata.nextLink unchanged.".to_owned()
}

/// The value of the attribute `name` of the inner (encoded) cookie.
fn cookie_attribute<'t>(token: &'t str, name: &str) -> Option<&'t str> {
    let marker = format!("%20{name}%3d%22");
    let start = token.find(&marker)? + marker.len();
    let length = token[start..].find("%22")?;
    Some(&token[start..start + length])
}

fn skiptoken_offset(token: &str) -> Result<usize, String> {
    let marker = "offset%3d%22";
    let start = token.find(marker).ok_or_else(invalid_skiptoken)? + marker.len();
    let digits: String = token[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().map_err(|_| invalid_skiptoken())
}

/// The cursor of a sync's `$skiptoken`; `None` for the paging cookie of a plain query.
fn sync_cursor(token: &str) -> Result<Option<SyncCursor>, String> {
    if !token.contains("istracking=\"True\"") {
        return Ok(None);
    }
    let number = |name: &str| -> Result<u64, String> {
        let text = cookie_attribute(token, name).ok_or_else(invalid_skiptoken)?;
        // Digits only: `parse` would also take a leading `+`.
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid_skiptoken());
        }
        text.parse().map_err(|_| invalid_skiptoken())
    };
    let stage = cookie_attribute(token, "stage")
        .and_then(SyncStage::from_name)
        .ok_or_else(invalid_skiptoken)?;
    Ok(Some(SyncCursor {
        upto: number("upto")?,
        stage,
        after: number("after")?,
    }))
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
        assert!(q.sync.is_none());
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

    fn encoded(text: &str) -> String {
        url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
    }

    #[test]
    fn sync_skiptokens_round_trip_and_delta_tokens_are_kept() {
        for stage in [SyncStage::Records, SyncStage::Changed, SyncStage::Deleted] {
            let cursor = SyncCursor {
                upto: 1_000_042,
                stage,
                after: 17,
            };
            let token = encoded(&sync_skiptoken(cursor));
            let q = parse(&format!(
                "$select=name&$deltatoken=5%2101&$skiptoken={token}"
            ))
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(q.sync, Some(cursor));
            assert_eq!(q.skip, None);
            assert_eq!(q.delta_token.as_deref(), Some("5!01"));
        }
        let cursor = SyncCursor {
            upto: 1,
            stage: SyncStage::Changed,
            after: 2,
        };
        let good = sync_skiptoken(cursor);
        for bad in [
            good.replace("stage%3d%22changed", "stage%3d%22other"),
            good.replace("upto%3d%221", "upto%3d%22+1"),
            good.replace("after%3d%222", "after%3d%22"),
            good.replace("%20after%3d%222%22", ""),
            good.replace("upto%3d%221", "upto%3d%2299999999999999999999"),
        ] {
            let result = parse(&format!("$skiptoken={}", encoded(&bad)));
            assert!(result.is_err(), "{bad}");
        }
        // Nested in an $expand, neither token is an option.
        assert!(parse("$expand=Account_Tasks($deltatoken=1)").is_err());
    }
}

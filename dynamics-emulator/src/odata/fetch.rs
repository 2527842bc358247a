//! FetchXML queries (`?fetchXml=`): `<fetch count page paging-cookie top aggregate>`, one
//! `<entity>` with `<attribute>`/`<all-attributes/>`, `<order>`, nested `<filter>`s of
//! `<condition>`s and `<link-entity>` joins (inner and outer, nested, aliased); aggregate
//! queries with `count`, `countcolumn`, `sum`, `avg`, `min`, `max` and `groupby`.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

/// The deepest element nesting accepted; it bounds the parser's recursion.
const MAX_DEPTH: usize = 32;

/// A parsed FetchXML query.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Fetch {
    pub(crate) entity: String,
    /// The columns asked for; `None` for `<all-attributes/>` (or no `<attribute>` at all).
    pub(crate) attributes: Option<Vec<String>>,
    /// (attribute, descending), in order.
    pub(crate) orders: Vec<(String, bool)>,
    pub(crate) filter: Option<Filter>,
    pub(crate) count: Option<usize>,
    pub(crate) page: usize,
    pub(crate) top: Option<usize>,
    /// The `paging-cookie` of the page before, as the service wrote it (XML-unescaped).
    pub(crate) paging_cookie: Option<PagingCookie>,
    /// `aggregate="true"`: every attribute is aggregated or grouped by.
    pub(crate) aggregate: bool,
    /// The entity's `<attribute>` elements, with their aliases and aggregates.
    pub(crate) columns: Vec<Attribute>,
    /// `<order alias>` of an aggregate query: (alias, descending).
    pub(crate) alias_orders: Vec<(String, bool)>,
    /// The `<link-entity>` joins, in the document's order.
    pub(crate) links: Vec<LinkEntity>,
    /// `distinct="true"`: rows with the same selected values once.
    pub(crate) distinct: bool,
    /// `returntotalrecordcount="true"`: the count of matching records, as `$count` gives it.
    pub(crate) total_count: bool,
    /// `aggregatelimit`: a lower cap than the service's on the records an aggregate reads.
    pub(crate) aggregate_limit: Option<usize>,
}

/// An `<attribute name alias aggregate groupby distinct>`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Attribute {
    pub(crate) name: String,
    pub(crate) alias: Option<String>,
    pub(crate) aggregate: Option<Aggregate>,
    pub(crate) groupby: bool,
    /// `distinct="true"`, for `countcolumn`.
    pub(crate) distinct: bool,
    /// `dategrouping`: the part of a date a `groupby` attribute groups by.
    pub(crate) date_grouping: Option<DateGrouping>,
}

/// A `dategrouping` value
/// (<https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/aggregate-data#grouping-by-parts-of-a-date>).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DateGrouping {
    /// Day of the month.
    Day,
    /// Week of the year.
    Week,
    /// Month of the year.
    Month,
    /// Quarter of the year.
    Quarter,
    Year,
}

/// An aggregate function of an `<attribute>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Aggregate {
    Count,
    CountColumn,
    Sum,
    Avg,
    Min,
    Max,
}

/// A `<link-entity name from to link-type alias>`: the records of `name` whose `from` equals
/// the parent's `to`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LinkEntity {
    pub(crate) name: String,
    pub(crate) from: String,
    pub(crate) to: String,
    /// `link-type="outer"`: a parent without a match stays, with nothing linked.
    pub(crate) outer: bool,
    /// The alias given, or the one generated (`contact1`); linked columns come back as
    /// `alias.column`.
    pub(crate) alias: String,
    pub(crate) columns: Vec<Attribute>,
    pub(crate) all_attributes: bool,
    pub(crate) filter: Option<Filter>,
    pub(crate) links: Vec<LinkEntity>,
}

/// A paging cookie sent back for the next page: `<cookie page="N"><key last="{id}"
/// first="{id}" /></cookie>`, naming the page it ends and that page's last and first keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PagingCookie {
    pub(crate) page: usize,
    /// The `last` key, braces removed.
    pub(crate) last: Option<String>,
}

/// A `<filter type="and|or">`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Filter {
    pub(crate) or: bool,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) filters: Vec<Filter>,
}

/// A `<condition entityname attribute operator value>`, with `<value>` children for `in`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Condition {
    /// The alias of the link-entity the attribute belongs to; the filter's own entity when
    /// absent.
    pub(crate) entityname: Option<String>,
    pub(crate) attribute: String,
    pub(crate) operator: Operator,
    pub(crate) values: Vec<String>,
}

/// The condition operators the emulator evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operator {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    NotLike,
    Null,
    NotNull,
    In,
}

impl Operator {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "eq" => Operator::Eq,
            "ne" | "neq" => Operator::Ne,
            "gt" => Operator::Gt,
            "ge" => Operator::Ge,
            "lt" => Operator::Lt,
            "le" => Operator::Le,
            "like" => Operator::Like,
            "not-like" => Operator::NotLike,
            "null" => Operator::Null,
            "not-null" => Operator::NotNull,
            "in" => Operator::In,
            _ => return None,
        })
    }

    /// How many values the operator takes: none, exactly one, or one or more.
    fn arity(self) -> (usize, usize) {
        match self {
            Operator::Null | Operator::NotNull => (0, 0),
            Operator::In => (1, usize::MAX),
            _ => (1, 1),
        }
    }
}

/// An element: its name, attributes and child elements (text only matters in `<value>`).
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a FetchXML document; the error is a message for a Dataverse-shaped 400.
pub(crate) fn parse(xml: &str) -> Result<Fetch, String> {
    let root = read_document(xml)?;
    if root.name != "fetch" {
        return Err(format!(
            "The root element of a FetchXML query must be 'fetch', not '{}'.",
            root.name
        ));
    }
    let number = |name: &str| -> Result<Option<usize>, String> {
        root.attribute(name)
            .map(|v| {
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        format!(
                            "The fetch attribute '{name}' must be a positive integer, not '{v}'."
                        )
                    })
            })
            .transpose()
    };
    let mut fetch = Fetch {
        count: number("count")?,
        page: number("page")?.unwrap_or(1),
        top: number("top")?,
        paging_cookie: root
            .attribute("paging-cookie")
            .map(paging_cookie)
            .transpose()?,
        aggregate: flag(&root, "aggregate")?,
        distinct: flag(&root, "distinct")?,
        total_count: flag(&root, "returntotalrecordcount")?,
        aggregate_limit: number("aggregatelimit")?,
        ..Fetch::default()
    };
    // "You can't apply the fetch element top attribute together with returntotalrecordcount."
    // (https://learn.microsoft.com/en-us/power-apps/developer/data-platform/fetchxml/count-rows)
    if fetch.total_count && fetch.top.is_some() {
        return Err(
            "The fetch attributes 'top' and 'returntotalrecordcount' cannot be used together."
                .into(),
        );
    }
    let mut entities = root.children.iter().filter(|c| c.name == "entity");
    let entity = entities
        .next()
        .ok_or("A FetchXML query needs an 'entity' element.")?;
    if entities.next().is_some() || root.children.iter().any(|c| c.name != "entity") {
        return Err("A 'fetch' element holds exactly one 'entity' element.".into());
    }
    fetch.entity = entity
        .attribute("name")
        .ok_or("The 'entity' element needs a 'name'.")?
        .to_owned();
    let mut all = false;
    for child in &entity.children {
        match child.name.as_str() {
            "attribute" => fetch.columns.push(attribute(child, fetch.aggregate)?),
            "all-attributes" => all = true,
            "order" => {
                let descending = match child.attribute("descending") {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(other) => {
                        return Err(format!("'{other}' is not a valid value for 'descending'."));
                    }
                };
                match (fetch.aggregate, child.attribute("alias")) {
                    (true, Some(alias)) => fetch.alias_orders.push((alias.to_owned(), descending)),
                    (true, None) => {
                        return Err(
                            "An 'order' of an aggregate query names an attribute's 'alias'.".into(),
                        );
                    }
                    (false, _) => fetch
                        .orders
                        .push((required(child, "attribute")?.to_owned(), descending)),
                }
            }
            "filter" => {
                if fetch.filter.is_some() {
                    return Err(
                        "An 'entity' element holds at most one 'filter'; nest filters inside it."
                            .into(),
                    );
                }
                fetch.filter = Some(filter(child)?);
            }
            "link-entity" => fetch.links.push(link_entity(child, fetch.aggregate)?),
            other => return Err(format!("'{other}' is not a valid child of 'entity'.")),
        }
    }
    if fetch.aggregate && all {
        return Err("An aggregate query cannot use 'all-attributes'.".into());
    }
    let names: Vec<String> = fetch.columns.iter().map(|c| c.name.clone()).collect();
    fetch.attributes = (!all && !names.is_empty()).then_some(names);
    name_links(&mut fetch.links, &mut Vec::new())?;
    Ok(fetch)
}

/// `true`/`false` (or absent, false) of an attribute.
fn flag(element: &Element, name: &str) -> Result<bool, String> {
    match element.attribute(name) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(format!("'{other}' is not a valid value for '{name}'.")),
    }
}

fn attribute(element: &Element, aggregate_query: bool) -> Result<Attribute, String> {
    let name = required(element, "name")?.to_owned();
    let aggregate = match element.attribute("aggregate") {
        None => None,
        Some(text) => Some(match text {
            "count" => Aggregate::Count,
            "countcolumn" => Aggregate::CountColumn,
            "sum" => Aggregate::Sum,
            "avg" => Aggregate::Avg,
            "min" => Aggregate::Min,
            "max" => Aggregate::Max,
            other => return Err(format!("'{other}' is not a valid aggregate.")),
        }),
    };
    let column = Attribute {
        alias: element.attribute("alias").map(str::to_owned),
        aggregate,
        groupby: flag(element, "groupby")?,
        distinct: flag(element, "distinct")?,
        date_grouping: match element.attribute("dategrouping") {
            None => None,
            Some("day") => Some(DateGrouping::Day),
            Some("week") => Some(DateGrouping::Week),
            Some("month") => Some(DateGrouping::Month),
            Some("quarter") => Some(DateGrouping::Quarter),
            Some("year") => Some(DateGrouping::Year),
            Some(fiscal @ ("fiscal-period" | "fiscal-year")) => {
                return Err(format!(
                    "The dategrouping '{fiscal}' is not supported by this emulator (it has no fiscal year settings)."
                ));
            }
            Some(other) => return Err(format!("'{other}' is not a valid dategrouping.")),
        },
        name,
    };
    if column.date_grouping.is_some() && !column.groupby {
        return Err(format!(
            "The attribute '{}' has a dategrouping but is not grouped by.",
            column.name
        ));
    }
    match (
        aggregate_query,
        column.aggregate.is_some() || column.groupby,
    ) {
        (true, false) => Err(format!(
            "The attribute '{}' of an aggregate query must be aggregated or grouped by.",
            column.name
        )),
        (false, true) => Err(format!(
            "The attribute '{}' has an aggregate, but the fetch is not aggregate=\"true\".",
            column.name
        )),
        (true, true) if column.alias.is_none() => Err(format!(
            "The aggregate attribute '{}' needs an 'alias'.",
            column.name
        )),
        _ if column.aggregate.is_some() && column.groupby => Err(format!(
            "The attribute '{}' cannot be both aggregated and grouped by.",
            column.name
        )),
        _ => Ok(column),
    }
}

/// A `<link-entity>`; how deep they nest is bounded by the reader's `MAX_DEPTH`.
fn link_entity(element: &Element, aggregate: bool) -> Result<LinkEntity, String> {
    let outer = match element.attribute("link-type") {
        None | Some("inner") => false,
        Some("outer") => true,
        Some(other) => {
            return Err(format!(
                "The link-type '{other}' is not supported by this emulator."
            ));
        }
    };
    let mut link = LinkEntity {
        name: required(element, "name")?.to_owned(),
        from: required(element, "from")?.to_owned(),
        to: required(element, "to")?.to_owned(),
        outer,
        alias: element.attribute("alias").unwrap_or_default().to_owned(),
        columns: Vec::new(),
        all_attributes: false,
        filter: None,
        links: Vec::new(),
    };
    for child in &element.children {
        match child.name.as_str() {
            "attribute" => link.columns.push(attribute(child, aggregate)?),
            "all-attributes" if !aggregate => link.all_attributes = true,
            "filter" if link.filter.is_none() => link.filter = Some(filter(child)?),
            "link-entity" => link.links.push(link_entity(child, aggregate)?),
            "order" => {
                return Err(
                    "An 'order' inside 'link-entity' is not supported by this emulator.".into(),
                );
            }
            other => return Err(format!("'{other}' is not a valid child of 'link-entity'.")),
        }
    }
    Ok(link)
}

/// Gives every link-entity without an alias one (`contact1`, `contact2`, ... per table, in the
/// document's order) and refuses an alias used twice.
fn name_links(links: &mut [LinkEntity], taken: &mut Vec<String>) -> Result<(), String> {
    for link in links.iter_mut() {
        if link.alias.is_empty() {
            link.alias = (1..)
                .map(|n| format!("{}{n}", link.name))
                .find(|a| !taken.contains(a))
                .unwrap_or_default();
        } else if taken.contains(&link.alias) {
            return Err(format!(
                "The link-entity alias '{}' is used twice.",
                link.alias
            ));
        }
        taken.push(link.alias.clone());
        name_links(&mut link.links, taken)?;
    }
    Ok(())
}

/// Reads a `paging-cookie`; an unreadable one is refused, as the service refuses it.
fn paging_cookie(text: &str) -> Result<PagingCookie, String> {
    let invalid = || format!("The paging cookie '{text}' is not valid.");
    let root = read_document(text).map_err(|_| invalid())?;
    if root.name != "cookie" {
        return Err(invalid());
    }
    let page = root
        .attribute("page")
        .and_then(|p| p.trim().parse::<usize>().ok())
        .ok_or_else(invalid)?;
    let last = root
        .children
        .first()
        .and_then(|key| key.attribute("last"))
        .map(|id| id.trim().trim_matches(['{', '}']).to_owned());
    Ok(PagingCookie { page, last })
}

fn required<'e>(element: &'e Element, name: &str) -> Result<&'e str, String> {
    element
        .attribute(name)
        .ok_or_else(|| format!("The '{}' element needs a '{name}'.", element.name))
}

fn filter(element: &Element) -> Result<Filter, String> {
    let or = match element.attribute("type") {
        None | Some("and") => false,
        Some("or") => true,
        Some(other) => return Err(format!("'{other}' is not a valid filter type.")),
    };
    let mut out = Filter {
        or,
        conditions: Vec::new(),
        filters: Vec::new(),
    };
    for child in &element.children {
        match child.name.as_str() {
            "condition" => out.conditions.push(condition(child)?),
            "filter" => out.filters.push(filter(child)?),
            other => return Err(format!("'{other}' is not a valid child of 'filter'.")),
        }
    }
    Ok(out)
}

fn condition(element: &Element) -> Result<Condition, String> {
    let attribute = required(element, "attribute")?.to_owned();
    let text = required(element, "operator")?;
    let operator = Operator::parse(text)
        .ok_or_else(|| format!("The condition operator '{text}' is not valid or not supported."))?;
    let mut values: Vec<String> = element
        .attribute("value")
        .map(str::to_owned)
        .into_iter()
        .collect();
    for child in &element.children {
        if child.name != "value" {
            return Err(format!(
                "'{}' is not a valid child of 'condition'.",
                child.name
            ));
        }
        values.push(child.text.clone());
    }
    let (min, max) = operator.arity();
    if values.len() < min || values.len() > max {
        return Err(format!(
            "The condition on '{attribute}' with operator '{text}' has {} value(s).",
            values.len()
        ));
    }
    Ok(Condition {
        entityname: element.attribute("entityname").map(str::to_owned),
        attribute,
        operator,
        values,
    })
}

/// Reads the document into elements, refusing anything that is not well-formed.
fn read_document(xml: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Element> = Vec::new();
    let invalid = |e: &dyn std::fmt::Display| format!("The FetchXML is not valid XML: {e}.");
    loop {
        let event = reader.read_event().map_err(|e| invalid(&e))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "The FetchXML nests deeper than {MAX_DEPTH} levels."
                    ));
                }
                stack.push(element(&start).map_err(|e| invalid(&e))?);
            }
            Event::Empty(start) => {
                let done = element(&start).map_err(|e| invalid(&e))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(|| invalid(&"unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Text(text) => {
                let content = text.xml_content(XmlVersion::Implicit1_0);
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(invalid(&"text outside the root element")),
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&reference)
                        .ok_or_else(|| invalid(&"unknown entity reference"))?
                        .to_owned(),
                };
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&resolved);
                }
            }
            Event::CData(data) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&data.into_inner());
                }
            }
            Event::Eof => return Err(invalid(&"the document ends before its root element")),
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {}
        }
    }
}

fn element(start: &BytesStart<'_>) -> Result<Element, String> {
    let name = start.name().as_ref().to_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let key = attribute.key.as_ref().to_owned();
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?
            .into_owned();
        attributes.push((key, value));
    }
    Ok(Element {
        name,
        attributes,
        children: Vec::new(),
        text: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_full_query() {
        let fetch = parse(
            r#"<fetch count="2" page="3" paging-cookie="&lt;cookie page=&quot;2&quot;&gt;&lt;accountid last=&quot;{00000000-0000-4000-8000-000000000003}&quot; /&gt;&lt;/cookie&gt;"><entity name="account">
                 <attribute name="name"/><order attribute="name" descending="true"/>
                 <filter type="or"><condition attribute="name" operator="like" value="%&amp;x"/>
                   <filter><condition attribute="revenue" operator="in"><value>1</value><value>2</value></condition></filter>
                 </filter></entity></fetch>"#,
        )
        .unwrap_or_default();
        assert_eq!(fetch.entity, "account");
        assert_eq!(fetch.count, Some(2));
        assert_eq!(fetch.page, 3);
        assert_eq!(
            fetch.paging_cookie,
            Some(PagingCookie {
                page: 2,
                last: Some("00000000-0000-4000-8000-000000000003".into())
            })
        );
        assert_eq!(fetch.attributes, Some(vec!["name".to_owned()]));
        assert_eq!(fetch.orders, [("name".to_owned(), true)]);
        let filter = fetch.filter.unwrap_or(Filter {
            or: false,
            conditions: Vec::new(),
            filters: Vec::new(),
        });
        assert!(filter.or);
        assert_eq!(filter.conditions[0].values, ["%&x"]);
        assert_eq!(filter.filters[0].conditions[0].values, ["1", "2"]);
    }

    #[test]
    fn reads_links_and_aggregates() {
        let fetch = parse(
            r#"<fetch aggregate="true"><entity name="account">
                 <attribute name="revenue" alias="total" aggregate="sum"/>
                 <attribute name="accountid" alias="n" aggregate="count"/>
                 <order alias="total" descending="true"/>
                 <link-entity name="contact" from="contactid" to="primarycontactid" link-type="outer">
                   <attribute name="lastname" alias="who" groupby="true"/>
                   <link-entity name="account" from="accountid" to="parentcustomerid"/>
                   <filter><condition attribute="lastname" operator="not-null"/></filter>
                 </link-entity>
                 <link-entity name="contact" from="parentcustomerid" to="accountid" alias="c"/>
                 <filter><condition entityname="c" attribute="lastname" operator="eq" value="x"/></filter>
               </entity></fetch>"#,
        )
        .unwrap_or_default();
        assert!(fetch.aggregate);
        assert_eq!(fetch.columns[0].aggregate, Some(Aggregate::Sum));
        assert_eq!(fetch.columns[1].aggregate, Some(Aggregate::Count));
        assert_eq!(fetch.alias_orders, [("total".to_owned(), true)]);
        let aliases: Vec<&str> = fetch.links.iter().map(|l| l.alias.as_str()).collect();
        assert_eq!(aliases, ["contact1", "c"]);
        assert!(fetch.links[0].outer && !fetch.links[1].outer);
        assert_eq!(fetch.links[0].links[0].alias, "account1");
        assert!(fetch.links[0].columns[0].groupby);
        assert!(fetch.links[0].filter.is_some());
        let condition = &fetch.filter.map(|f| f.conditions).unwrap_or_default()[0];
        assert_eq!(condition.entityname.as_deref(), Some("c"));
    }

    #[test]
    fn refuses_malformed_queries() {
        for bad in [
            "",
            "<fetch>",
            "<fetch><entity name='a'></fetch>",
            "<query/>",
            "<fetch/>",
            "<fetch><entity/></fetch>",
            "<fetch count='x'><entity name='a'/></fetch>",
            "<fetch><entity name='a'><condition attribute='b' operator='eq' value='1'/></entity></fetch>",
            "<fetch><entity name='a'><filter><condition attribute='b' operator='between' value='1'/></filter></entity></fetch>",
            "<fetch><entity name='a'><filter><condition attribute='b' operator='eq'/></filter></entity></fetch>",
            "<fetch><entity name='a'><link-entity name='b'/></entity></fetch>",
            "<fetch><entity name='a'><link-entity name='b' from='c' to='d' link-type='any'/></entity></fetch>",
            "<fetch><entity name='a'><link-entity name='b' from='c' to='d' alias='x'/><link-entity name='b' from='c' to='d' alias='x'/></entity></fetch>",
            "<fetch aggregate='true'><entity name='a'><attribute name='b'/></entity></fetch>",
            "<fetch aggregate='true'><entity name='a'><attribute name='b' aggregate='sum'/></entity></fetch>",
            "<fetch aggregate='true'><entity name='a'><attribute name='b' aggregate='median' alias='m'/></entity></fetch>",
            "<fetch aggregate='true'><entity name='a'><attribute name='b' alias='c' aggregate='sum' groupby='true'/></entity></fetch>",
            "<fetch aggregate='true'><entity name='a'><attribute name='b' alias='c' groupby='true' dategrouping='fiscal-year'/></entity></fetch>",
            "<fetch aggregate='true'><entity name='a'><attribute name='b' alias='c' groupby='true' dategrouping='decade'/></entity></fetch>",
            "<fetch aggregate='true'><entity name='a'><attribute name='b' alias='c' aggregate='max' dategrouping='year'/></entity></fetch>",
            "<fetch top='5' returntotalrecordcount='true'><entity name='a'/></fetch>",
            "<fetch aggregate='true'><entity name='a'><all-attributes/></entity></fetch>",
            "<fetch aggregate='true'><entity name='a'><attribute name='b' alias='c' groupby='true'/><order attribute='b'/></entity></fetch>",
            "<fetch><entity name='a'><attribute name='b' aggregate='sum' alias='c'/></entity></fetch>",
            "<fetch page='2' paging-cookie='&lt;cookie/&gt;'><entity name='a'/></fetch>",
            "<fetch page='2' paging-cookie='nonsense'><entity name='a'/></fetch>",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

//! Cutting the members of entity types that code for a few tables does not need.
//!
//! `dynamics_entities!` reads the whole `$metadata` document on every expansion, inside the
//! compiler, where proc macros run unoptimised: a 4 MB document takes a quarter of a second to
//! parse there, almost all of it in the columns of tables nobody asked for. Before parsing, the
//! bodies of those tables are cut out of a copy, except their `Key` and the properties it
//! names (an entity set must have a keyed type), and so are the bodies of their entity sets
//! (navigation property bindings, which code generation does not use).
//!
//! Found with plain substring search and copied in whole runs, which stay fast unoptimised.
//! A body whose key cannot be read simply (entity references in names, unclosed tags) is kept
//! whole. Positions in the copy are not the document's, and what substring search misreads
//! (comments or CDATA holding tags) leaves a copy that is not well-formed: the caller parses
//! the whole document instead whenever the copy gives an error or a warning.

use std::collections::HashMap;
use std::ops::Range;

/// The document without the members of every entity type outside `tables` (and the types they
/// derive from), nor the bindings of their entity sets; `None` when nothing would be cut or
/// `"*"` is asked for.
pub(crate) fn cut_unselected<S: AsRef<str>>(text: &str, tables: &[S]) -> Option<String> {
    let names: Vec<&str> = tables.iter().map(AsRef::as_ref).collect();
    if names.contains(&"*") {
        return None;
    }
    let types = entity_types(text)?;
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, t) in types.iter().enumerate() {
        by_name.entry(t.name).or_default().push(i);
    }
    let lookup = |name: &str| {
        by_name
            .get(unqualified(name))
            .map(Vec::as_slice)
            .unwrap_or_default()
    };

    // The named tables and everything they inherit from keep their members.
    let mut needed = vec![false; types.len()];
    let mut pending: Vec<usize> = names.iter().flat_map(|n| lookup(n)).copied().collect();
    while let Some(i) = pending.pop() {
        if !std::mem::replace(&mut needed[i], true)
            && let Some(base) = types[i].base
        {
            pending.extend(lookup(base));
        }
    }

    // A key may name a property declared by a base type: keep it there too.
    let mut key_properties: Vec<Vec<&str>> = vec![Vec::new(); types.len()];
    for (i, t) in types.iter().enumerate() {
        let mut owner = Some(i);
        // At most as many steps as there are types, so an inheritance cycle (an error the
        // parse reports) ends here.
        for _ in 0..types.len() {
            let Some(o) = owner else { break };
            key_properties[o].extend(&t.key);
            owner = types[o].base.and_then(|b| lookup(b).first().copied());
        }
    }

    // Cut: each body, but for the parts kept.
    let mut cuts: Vec<(Range<usize>, Vec<Range<usize>>)> = Vec::new();
    for (i, t) in types.iter().enumerate() {
        let Some(body) = &t.body else { continue };
        if needed[i] {
            continue;
        }
        if let Some(kept) = kept_parts(text, body.clone(), &key_properties[i]) {
            cuts.push((body.clone(), kept));
        }
    }
    // The navigation property bindings and annotations of other tables' entity sets.
    let container = text.find("<EntityContainer").unwrap_or(text.len());
    for set in elements(&text[container..], "EntitySet") {
        let Some(body) = set.body else { continue };
        let body = container + body.start..container + body.end;
        let Some(ty) = attribute(set.tag, "EntityType") else {
            continue;
        };
        if !lookup(ty).iter().any(|&i| needed[i]) {
            cuts.push((body, Vec::new()));
        }
    }
    if cuts.is_empty() {
        return None;
    }
    cuts.sort_by_key(|(body, _)| body.start);

    let mut out = String::with_capacity(text.len() / 2);
    let mut copied = 0;
    for (body, kept) in cuts {
        if body.start < copied {
            continue; // overlapping spans cannot occur in a well-formed document
        }
        out.push_str(&text[copied..body.start]);
        let mut from = body.start;
        for k in kept {
            if k.start >= from {
                out.push_str(&text[k.clone()]);
                from = k.end;
            }
        }
        copied = body.end;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// An element found by substring search. Its end is the first end tag of its name after the
/// start tag: comments, CDATA or nested elements of the same name can make that wrong, the copy
/// then is not well-formed, and the caller reads the whole document instead.
struct Found<'a> {
    tag: &'a str,
    /// From `<` to past its end tag (or past `/>`); `None` when the end tag is missing.
    whole: Option<Range<usize>>,
    /// Between the start and end tags; `None` for `<X .../>` and when the end tag is missing.
    body: Option<Range<usize>>,
}

/// The element `name` whose start tag opens at `start`; `None` when that tag does not close.
fn element_at<'a>(text: &'a str, start: usize, name: &str) -> Option<Found<'a>> {
    let tag_end = tag_end(text, start)?;
    let tag = &text[start..tag_end];
    if tag.ends_with("/>") {
        return Some(Found {
            tag,
            whole: Some(start..tag_end),
            body: None,
        });
    }
    let end_tag = format!("</{name}>");
    let Some(end) = text[tag_end..].find(&end_tag).map(|e| tag_end + e) else {
        return Some(Found {
            tag,
            whole: None,
            body: None,
        });
    };
    Some(Found {
        tag,
        whole: Some(start..end + end_tag.len()),
        body: Some(tag_end..end),
    })
}

/// Every element `name` of `text`, in order, up to the first that does not end.
fn elements<'a>(text: &'a str, name: &str) -> Vec<Found<'a>> {
    let start_pattern = format!("<{name}");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = text.get(at..).and_then(|rest| rest.find(&start_pattern)) {
        let start = at + found;
        at = start + start_pattern.len();
        if !text[at..].starts_with(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/') {
            continue; // `<EntityTypeX`, `<PropertyRef` when looking for `<Property`
        }
        let Some(element) = element_at(text, start, name) else {
            break;
        };
        let Some(whole) = element.whole.clone() else {
            out.push(element);
            break;
        };
        at = whole.end;
        out.push(element);
    }
    out
}

/// One `<EntityType>` as found by substring search.
struct TypeSpan<'a> {
    name: &'a str,
    base: Option<&'a str>,
    /// Between the start tag and `</EntityType>`; `None` for `<EntityType .../>`.
    body: Option<Range<usize>>,
    /// The `PropertyRef` names of its own `Key`.
    key: Vec<&'a str>,
}

/// Every `<EntityType>`, or `None` when one's name cannot be read simply (then nothing is cut:
/// a table left out here could be one asked for).
fn entity_types(text: &str) -> Option<Vec<TypeSpan<'_>>> {
    elements(text, "EntityType")
        .into_iter()
        .map(|found| {
            let key = found
                .body
                .as_ref()
                .map(|body| key_names(&text[body.clone()]))
                .unwrap_or_default();
            Some(TypeSpan {
                name: attribute(found.tag, "Name")?,
                base: attribute(found.tag, "BaseType"),
                body: found.body,
                key,
            })
        })
        .collect()
}

/// The names in `<Key><PropertyRef Name="..."/>...</Key>`.
fn key_names(body: &str) -> Vec<&str> {
    let Some(key) = elements(body, "Key")
        .into_iter()
        .next()
        .and_then(|k| k.body)
    else {
        return Vec::new();
    };
    elements(&body[key], "PropertyRef")
        .iter()
        .filter_map(|r| attribute(r.tag, "Name"))
        .collect()
}

/// The ranges of a body to keep: its `Key` and the properties named in `keys`. `None` when
/// the body cannot be read simply (then it is kept whole).
fn kept_parts(text: &str, body: Range<usize>, keys: &[&str]) -> Option<Vec<Range<usize>>> {
    let inner = &text[body.clone()];
    let mut kept: Vec<Range<usize>> = elements(inner, "Key")
        .into_iter()
        .next()
        .and_then(|k| k.whole)
        .into_iter()
        .collect();
    // Dataverse writes `Name` first: look for exactly that, and read every property only when
    // a key property is written some other way.
    let mut found = Vec::new();
    for k in keys {
        match inner.find(&format!("<Property Name=\"{k}\"")) {
            Some(start) => found.push(element_at(inner, start, "Property")?.whole?),
            None => {
                found = every_key_property(inner, keys)?;
                break;
            }
        }
    }
    kept.extend(found);
    kept.sort_by_key(|r| r.start);
    Some(
        kept.into_iter()
            .map(|r| body.start + r.start..body.start + r.end)
            .collect(),
    )
}

/// The `<Property>` elements of `inner` named in `keys`, each read tag by tag; `None` when a
/// property's name cannot be read simply or a key property does not end.
fn every_key_property(inner: &str, keys: &[&str]) -> Option<Vec<Range<usize>>> {
    elements(inner, "Property")
        .into_iter()
        .filter_map(|p| match attribute(p.tag, "Name") {
            None => Some(None),
            Some(name) if keys.contains(&name) => Some(p.whole),
            Some(_) => None,
        })
        .collect()
}

/// The index just past the `>` that closes the tag opening at `start`, quotes respected.
fn tag_end(text: &str, start: usize) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in text.as_bytes().get(start..)?.iter().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return Some(start + i + 1),
            (None, b'<') if i > 0 => return None,
            _ => {}
        }
    }
    None
}

/// The value of attribute `name` in a start tag, when it has no entity references.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let bytes = tag.as_bytes();
    // Past `<ElementName`.
    let mut i = bytes
        .iter()
        .position(|b| b.is_ascii_whitespace() || matches!(b, b'/' | b'>'))?;
    loop {
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let key_start = i;
        while bytes
            .get(i)
            .is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b'=' | b'/' | b'>'))
        {
            i += 1;
        }
        let key = tag.get(key_start..i)?;
        if key.is_empty() {
            return None;
        }
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            return None;
        }
        i += 1;
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let quote = *bytes.get(i).filter(|q| matches!(q, b'"' | b'\''))?;
        let value_start = i + 1;
        let value_len = bytes.get(value_start..)?.iter().position(|&b| b == quote)?;
        let value = tag.get(value_start..value_start + value_len)?;
        i = value_start + value_len + 1;
        if key == name {
            return (!value.contains('&')).then_some(value);
        }
    }
}

/// `mscrm.account` → `account`.
fn unqualified(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<Schema>
  <EntityType Name="crmbaseentity" Abstract="true"/>
  <EntityType Name="principal" BaseType="mscrm.crmbaseentity" Abstract="true">
    <Key><PropertyRef Name="ownerid"/></Key>
    <Property Name="ownerid" Type="Edm.Guid"/>
    <Property Name="other" Type="Edm.String"/>
  </EntityType>
  <EntityType Name="systemuser" BaseType="mscrm.principal">
    <Property Name="fullname" Type="Edm.String"/>
  </EntityType>
  <EntityType Name="account" BaseType="mscrm.crmbaseentity">
    <Key><PropertyRef Name="accountid"/></Key>
    <Property Name="accountid" Type="Edm.Guid"/>
    <Property Name="name" Type="Edm.String"><Annotation Term="x" String="é"/></Property>
    <NavigationProperty Name="owninguser" Type="mscrm.systemuser"/>
  </EntityType>
  <EntityType Name="contact">
    <Key><PropertyRef Name="contactid"/></Key>
    <Property Name="contactid" Type="Edm.Guid"><Annotation Term="y"/></Property>
    <Property Name="lastname" Type="Edm.String"/>
  </EntityType>
  <EntityContainer Name="System">
    <EntitySet Name="accounts" EntityType="mscrm.account">
      <NavigationPropertyBinding Path="owninguser" Target="systemusers"/>
    </EntitySet>
    <EntitySet Name="contacts" EntityType="mscrm.contact">
      <NavigationPropertyBinding Path="parentcontact" Target="contacts"/>
    </EntitySet>
  </EntityContainer>
</Schema>"#;

    fn cut(tables: &[&str]) -> String {
        let out = cut_unselected(DOC, tables).expect("something to cut");
        assert!(out.len() < DOC.len());
        out
    }

    #[test]
    fn keeps_the_named_table_and_its_ancestors_whole() {
        let out = cut(&["account"]);
        assert!(out.contains(r#"<NavigationProperty Name="owninguser""#));
        assert!(out.contains(r#"<Property Name="name" Type="Edm.String"><Annotation"#));
        // contact: key and key property kept (with its children), the rest cut.
        assert!(out.contains(
            r#"<Property Name="contactid" Type="Edm.Guid"><Annotation Term="y"/></Property>"#
        ));
        assert!(!out.contains("lastname"));
        // principal is no ancestor of account: cut but for its key, which systemuser uses.
        assert!(out.contains(r#"<Property Name="ownerid""#));
        assert!(!out.contains(r#"Name="other""#));
        assert!(!out.contains("fullname"));
    }

    #[test]
    fn ancestors_of_a_derived_table_keep_their_members() {
        let out = cut(&["mscrm.systemuser"]);
        assert!(out.contains("fullname"));
        assert!(out.contains(r#"Name="other""#));
        assert!(!out.contains("owninguser"));
    }

    #[test]
    fn every_table_or_an_unknown_one() {
        assert_eq!(cut_unselected(DOC, &["*"]), None);
        // Unknown names keep nothing extra: every body is cut.
        let out = cut(&["nosuchtable"]);
        assert!(!out.contains("owninguser"));
    }

    #[test]
    fn what_is_not_cut_is_copied_as_it_was() {
        let out = cut(&["account"]);
        let account_start = DOC.find(r#"<EntityType Name="account""#).unwrap();
        let contact_start = DOC.find(r#"<EntityType Name="contact""#).unwrap();
        assert!(out.contains(&DOC[account_start..contact_start]));
        assert!(out.contains(
            r#"<EntityType Name="contact"><Key><PropertyRef Name="contactid"/></Key><Property Name="contactid""#
        ));
        assert!(out.ends_with("</EntitySet>\n  </EntityContainer>\n</Schema>"));
        // The set of a table that is read keeps its bindings; the others lose theirs.
        assert!(out.contains(r#"<NavigationPropertyBinding Path="owninguser""#));
        assert!(!out.contains("parentcontact"));
        assert!(
            out.contains(r#"<EntitySet Name="contacts" EntityType="mscrm.contact"></EntitySet>"#)
        );
    }

    #[test]
    fn a_key_written_another_way_is_still_found() {
        let doc = r#"<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="x"/><Property Type="Edm.Guid" Name="id"/></EntityType><EntityType Name="b"/>"#;
        let out = cut_unselected(doc, &["b"]).expect("cut");
        assert_eq!(
            out,
            r#"<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Type="Edm.Guid" Name="id"/></EntityType><EntityType Name="b"/>"#
        );
        // An entity reference in a name: that body is kept whole.
        let doc = doc.replace(r#"Name="x""#, r#"Name="x&amp;y""#);
        assert_eq!(cut_unselected(&doc, &["b"]), None);
    }

    #[test]
    fn a_table_name_that_cannot_be_read_simply_cuts_nothing() {
        // `b` could be the table asked for, spelled with a reference: cutting `a`, its base
        // type, would lose members `b` inherits.
        let doc = r#"<EntityType Name="a"><Key><PropertyRef Name="id"/></Key><Property Name="id"/><Property Name="x"/></EntityType><EntityType Name="&#98;" BaseType="mscrm.a"/>"#;
        assert_eq!(cut_unselected(doc, &["b"]), None);
    }

    #[test]
    fn malformed_input_does_not_panic() {
        for doc in [
            "<EntityType",
            "<EntityType Name=\"a\"",
            "<EntityType Name=\"a\">",
            "<EntityType Name=\"a\"><Key><PropertyRef Name=\"id\"",
            "<EntityType Name='a'><Property Name=\"x\" </EntityType>",
            "<EntityType Name=a></EntityType>",
            "<EntityType Name=\"é\"><Property Name=\"é\"/></EntityType>",
        ] {
            for cut in 0..=doc.len() {
                if let Some(prefix) = doc.get(..cut) {
                    let _ = cut_unselected(prefix, &["x"]);
                }
            }
        }
    }
}

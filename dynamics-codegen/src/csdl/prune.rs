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
    let types = entity_types(text);
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
        // At most one step per type: an inheritance cycle (an error the parse reports) ends here.
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

/// An element found by substring search: its start tag, and what lies between it and the first
/// end tag of its name after it (`None` for `<X .../>`). Comments, CDATA or nested elements of
/// the same name can make that wrong; the copy then is not well-formed, and the caller reads
/// the whole document instead.
struct Found<'a> {
    tag: &'a str,
    body: Option<Range<usize>>,
}

fn elements<'a>(text: &'a str, name: &str) -> Vec<Found<'a>> {
    let start_pattern = format!("<{name}");
    let end_pattern = format!("</{name}>");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = text.get(at..).and_then(|rest| rest.find(&start_pattern)) {
        let start = at + found;
        at = start + start_pattern.len();
        if !text[at..].starts_with(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/') {
            continue; // `<EntityTypeX`
        }
        let Some(tag_end) = tag_end(text, start) else {
            break;
        };
        let tag = &text[start..tag_end];
        at = tag_end;
        let mut body = None;
        if !tag.ends_with("/>") {
            let Some(end) = text[tag_end..].find(&end_pattern).map(|e| tag_end + e) else {
                out.push(Found { tag, body });
                break;
            };
            at = end + end_pattern.len();
            body = Some(tag_end..end);
        }
        out.push(Found { tag, body });
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

fn entity_types(text: &str) -> Vec<TypeSpan<'_>> {
    elements(text, "EntityType")
        .into_iter()
        .filter_map(|found| {
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
    let Some(key) = element(body, "Key") else {
        return Vec::new();
    };
    let key = &body[key];
    let mut names = Vec::new();
    let mut at = 0;
    while let Some(found) = key[at..].find("<PropertyRef") {
        let start = at + found;
        let Some(end) = tag_end(key, start) else {
            break;
        };
        if let Some(name) = attribute(&key[start..end], "Name") {
            names.push(name);
        }
        at = end;
    }
    names
}

/// The ranges of a body to keep: its `Key` and the properties named in `keys`. `None` when
/// the body cannot be read simply (then it is kept whole).
fn kept_parts(text: &str, body: Range<usize>, keys: &[&str]) -> Option<Vec<Range<usize>>> {
    let inner = &text[body.clone()];
    let mut kept = Vec::new();
    if let Some(key) = element(inner, "Key") {
        kept.push(key);
    }
    // Dataverse writes `Name` first: look for exactly that, and read every property only when
    // a key property is written some other way.
    let mut found = Vec::new();
    for k in keys {
        match inner.find(&format!("<Property Name=\"{k}\"")) {
            Some(start) => found.push(property(inner, start)?),
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

/// The `<Property>` elements of `inner` named in `keys`, each read tag by tag.
fn every_key_property(inner: &str, keys: &[&str]) -> Option<Vec<Range<usize>>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = inner[at..].find("<Property") {
        let start = at + found;
        let after = start + "<Property".len();
        at = after;
        if !inner[after..].starts_with(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>') {
            continue; // `<PropertyRef`
        }
        let end = tag_end(inner, start)?;
        at = end;
        if keys.contains(&attribute(&inner[start..end], "Name")?) {
            let range = property(inner, start)?;
            at = range.end;
            out.push(range);
        }
    }
    Some(out)
}

/// The `<Property>` element starting at `start`, children included.
fn property(inner: &str, start: usize) -> Option<Range<usize>> {
    let end = tag_end(inner, start)?;
    if inner[start..end].ends_with("/>") {
        return Some(start..end);
    }
    let close = inner[end..].find("</Property>")?;
    Some(start..end + close + "</Property>".len())
}

/// The range of `<name>...</name>` (first occurrence) in `text`.
fn element(text: &str, name: &str) -> Option<Range<usize>> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)?;
    let end = text[start..].find(&close)? + start + close.len();
    Some(start..end)
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

//! Resolution: aliases to namespaces, type references to types, inheritance flattened,
//! entity sets tied to their types, lookups grouped, alternate keys read.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::hash::FastMap;

use super::annotation::{Annotation, AnnotationValue, KEYS_ALTERNATE_KEYS};
use super::model::*;
use super::parse::Document;
use super::{Metadata, TypeSlot};
use crate::error::{Error, Location, Result};

pub(crate) fn resolve(text: &str, mut doc: Document) -> Result<Metadata> {
    let aliases = Aliases::new(&doc);
    let at = |offset: usize| Location::at(text, offset);

    // Qualify every annotation term, wherever it is.
    for_each_annotation_list(&mut doc, |list| {
        for a in list {
            // A common term is already qualified, unless an alias has a dot to match its prefix.
            if matches!(a.term, Cow::Borrowed(_)) && !aliases.dotted {
                continue;
            }
            if let Some(q) = aliases.qualify(&a.term) {
                a.term = super::annotation::term_owned(q);
            }
        }
    });

    // The type index, with clashes of exact names reported.
    let mut index: FastMap<String, (TypeSlot, usize)> = FastMap::default();
    let mut declare = |name: String, slot: TypeSlot, offset: usize| -> Result<()> {
        if let Some((_, first)) = index.get(&name) {
            return Err(Error::Duplicate {
                location: at(offset),
                kind: "type".into(),
                first_line: at(*first).line,
                name,
            });
        }
        index.insert(name, (slot, offset));
        Ok(())
    };
    for (i, t) in doc.entity_types.iter().enumerate() {
        declare(t.qualified_name(), TypeSlot::Entity(i), t.offset)?;
    }
    for (i, t) in doc.complex_types.iter().enumerate() {
        declare(t.qualified_name(), TypeSlot::Complex(i), t.offset)?;
    }
    for (i, t) in doc.enum_types.iter().enumerate() {
        declare(t.qualified_name(), TypeSlot::Enum(i), t.offset)?;
    }
    for (i, t) in doc.type_definitions.iter().enumerate() {
        let offset = doc.type_definition_offsets.get(i).copied().unwrap_or(0);
        declare(
            qualified(&t.namespace, &t.name),
            TypeSlot::Definition(i),
            offset,
        )?;
    }
    let resolver = TypeResolver {
        aliases: &aliases,
        index: &index,
    };

    // Out-of-line annotations go to the types and properties they target.
    apply_out_of_line(&mut doc, &aliases, &index);

    // Nesting first: resolving a type reference recurses once per `Collection(`.
    check_collection_nesting(text, &doc)?;

    // Type references of structural members and operations.
    for t in &mut doc.entity_types {
        let owner = Owner("entity type", &t.name);
        resolve_members(
            &resolver,
            text,
            owner,
            &mut t.properties,
            &mut t.navigation_properties,
        )?;
        t.base_type = resolve_base(&resolver, text, owner, t.base_type.take(), t.offset, true)?;
    }
    for t in &mut doc.complex_types {
        let owner = Owner("complex type", &t.name);
        resolve_members(
            &resolver,
            text,
            owner,
            &mut t.properties,
            &mut t.navigation_properties,
        )?;
        t.base_type = resolve_base(&resolver, text, owner, t.base_type.take(), t.offset, false)?;
    }
    for op in &mut doc.operations {
        let owner = Owner(kind_name(op.kind), &op.name);
        for p in &mut op.parameters {
            p.ty = resolver
                .resolve(&p.type_name)
                .ok_or_else(|| Error::DanglingType {
                    location: at(p.offset),
                    referrer: format!("parameter `{}` of {owner}", p.name),
                    type_name: p.type_name.to_string(),
                })?;
        }
        if let Some(r) = &mut op.return_type {
            r.ty = resolver
                .resolve(&r.type_name)
                .ok_or_else(|| Error::DanglingType {
                    location: at(op.offset),
                    referrer: format!("the return type of {owner}"),
                    type_name: r.type_name.to_string(),
                })?;
        }
    }

    // Inheritance, flattened in dependency order.
    flatten_entities(text, &mut doc.entity_types, &index)?;
    flatten_complex(text, &mut doc.complex_types, &index)?;

    // Keys must name properties the type has.
    for t in &doc.entity_types {
        for k in &t.key {
            if t.property(k).is_none() {
                return Err(Error::DanglingKey {
                    location: at(t.offset),
                    entity_type: t.name.clone(),
                    property: k.clone(),
                });
            }
        }
    }

    // The container: entity sets tied to their types, both ways.
    let (mut container, container_offset) = match doc.containers.len() {
        0 => (None, 0),
        _ => {
            let (c, offset) = doc.containers.remove(0);
            (Some(c), offset)
        }
    };
    if let Some((extra, offset)) = doc.containers.first() {
        return Err(Error::Duplicate {
            location: at(*offset),
            kind: "entity container".into(),
            name: extra.name.clone(),
            first_line: at(container_offset).line,
        });
    }
    // The first entity set of each entity type, by the type's place in the document.
    let mut set_of_type: Vec<Option<String>> = vec![None; doc.entity_types.len()];
    let mut set_index: FastMap<String, usize> = FastMap::default();
    if let Some(container) = &mut container {
        for (i, set) in container.entity_sets.iter_mut().enumerate() {
            let offset = doc.entity_set_offsets.get(i).copied().unwrap_or(0);
            let qualified = match aliases.qualify(&set.entity_type) {
                Some(q) => q,
                None => set.entity_type.clone(),
            };
            let Some((TypeSlot::Entity(slot), _)) = index.get(&qualified) else {
                return Err(Error::DanglingType {
                    location: at(offset),
                    referrer: format!("entity set `{}`", set.name),
                    type_name: set.entity_type.clone(),
                });
            };
            if let Some(first) = set_index.insert(set.name.clone(), i) {
                let first_offset = doc.entity_set_offsets.get(first).copied().unwrap_or(0);
                return Err(Error::Duplicate {
                    location: at(offset),
                    kind: "entity set".into(),
                    name: set.name.clone(),
                    first_line: at(first_offset).line,
                });
            }
            set.entity_type = qualified;
            if let Some(first @ None) = set_of_type.get_mut(*slot) {
                *first = Some(set.name.clone());
            }
            let t = &doc.entity_types[*slot];
            if t.key.is_empty() && !t.is_abstract {
                return Err(Error::MissingKey {
                    location: at(t.offset),
                    entity_type: t.name.clone(),
                    entity_set: set.name.clone(),
                });
            }
        }
        for singleton in &mut container.singletons {
            if let Some(q) = aliases.qualify(&singleton.entity_type) {
                singleton.entity_type = q;
            }
        }
        for import in &mut container.operation_imports {
            if let Some(q) = aliases.qualify(&import.operation) {
                import.operation = q;
            }
        }
    }

    // Per entity type: its lookups, its alternate keys and its set.
    let targets = Targets {
        index: &index,
        types: &doc.entity_types,
        sets: &set_of_type,
    };
    let per_type: Vec<(Vec<Lookup>, Vec<AlternateKey>)> = doc
        .entity_types
        .iter()
        .map(|t| (lookups(t, &targets), alternate_keys(&t.annotations)))
        .collect();
    for ((t, (lookups, keys)), set) in doc.entity_types.iter_mut().zip(per_type).zip(set_of_type) {
        t.lookups = lookups;
        t.alternate_keys = keys;
        t.entity_set = set;
    }

    Ok(Metadata::assemble(doc, container))
}

/// The item whose members are being resolved, as error messages name it (`entity type
/// `account``); written out only when there is an error.
#[derive(Clone, Copy)]
struct Owner<'a>(&'static str, &'a str);

impl std::fmt::Display for Owner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} `{}`", self.0, self.1)
    }
}

fn kind_name(kind: OperationKind) -> &'static str {
    match kind {
        OperationKind::Action => "action",
        OperationKind::Function => "function",
    }
}

/// Alias → namespace, from the schemas and the referenced vocabularies.
struct Aliases {
    map: FastMap<String, String>,
    /// Whether some alias contains a dot (no valid document has one).
    dotted: bool,
}

impl Aliases {
    fn new(doc: &Document) -> Self {
        let mut map = FastMap::default();
        for s in &doc.schemas {
            if let Some(alias) = &s.alias {
                map.insert(alias.clone(), s.namespace.clone());
            }
        }
        for i in &doc.includes {
            if let Some(alias) = &i.alias {
                map.insert(alias.clone(), i.namespace.clone());
            }
        }
        let dotted = map.keys().any(|alias| alias.contains('.'));
        Aliases { map, dotted }
    }

    /// `mscrm.account` → `Microsoft.Dynamics.CRM.account`; `None` when already qualified.
    fn qualify(&self, name: &str) -> Option<String> {
        let (prefix, local) = name.rsplit_once('.')?;
        let namespace = self.map.get(prefix)?;
        let mut qualified = String::with_capacity(namespace.len() + 1 + local.len());
        qualified.push_str(namespace);
        qualified.push('.');
        qualified.push_str(local);
        Some(qualified)
    }
}

struct TypeResolver<'a> {
    aliases: &'a Aliases,
    index: &'a FastMap<String, (TypeSlot, usize)>,
}

impl TypeResolver<'_> {
    fn resolve(&self, written: &str) -> Option<TypeRef> {
        // Type names almost never carry white space: look at the ends before trimming.
        let written =
            if written.starts_with(char::is_whitespace) || written.ends_with(char::is_whitespace) {
                written.trim()
            } else {
                written
            };
        if let Some(inner) = written
            .strip_prefix("Collection(")
            .and_then(|r| r.strip_suffix(')'))
        {
            return Some(TypeRef::Collection(Box::new(self.resolve(inner)?)));
        }
        if let Some(edm) = written.strip_prefix("Edm.") {
            return Primitive::from_edm_name(edm).map(TypeRef::Primitive);
        }
        let qualified = self
            .aliases
            .qualify(written)
            .unwrap_or_else(|| written.to_owned());
        let (slot, _) = self.index.get(&qualified)?;
        Some(match slot {
            TypeSlot::Entity(_) => TypeRef::Entity(qualified),
            TypeSlot::Complex(_) => TypeRef::Complex(qualified),
            TypeSlot::Enum(_) => TypeRef::Enum(qualified),
            TypeSlot::Definition(_) => TypeRef::Definition(qualified),
        })
    }
}

fn resolve_members(
    resolver: &TypeResolver<'_>,
    text: &str,
    owner: Owner<'_>,
    properties: &mut [Property],
    navigation: &mut [NavigationProperty],
) -> Result<()> {
    for p in properties.iter_mut() {
        p.ty = match resolver.resolve(&p.type_name) {
            Some(TypeRef::Entity(_)) | None => {
                return Err(Error::DanglingType {
                    location: Location::at(text, p.offset),
                    referrer: format!("property `{}` of {owner}", p.name),
                    type_name: p.type_name.to_string(),
                });
            }
            Some(t) => t,
        };
    }
    for n in navigation.iter_mut() {
        let (target, collection) = match resolver.resolve(&n.type_name) {
            Some(TypeRef::Entity(q)) => (q, false),
            Some(TypeRef::Collection(inner)) => match *inner {
                TypeRef::Entity(q) => (q, true),
                _ => (String::new(), true),
            },
            _ => (String::new(), false),
        };
        if target.is_empty() {
            return Err(Error::DanglingType {
                location: Location::at(text, n.offset),
                referrer: format!("navigation property `{}` of {owner}", n.name),
                type_name: n.type_name.to_string(),
            });
        }
        n.target = target;
        n.collection = collection;
    }
    Ok(())
}

fn resolve_base(
    resolver: &TypeResolver<'_>,
    text: &str,
    owner: Owner<'_>,
    base: Option<String>,
    offset: usize,
    entity: bool,
) -> Result<Option<String>> {
    let Some(base) = base else { return Ok(None) };
    match resolver.resolve(&base) {
        Some(TypeRef::Entity(q)) if entity => Ok(Some(q)),
        Some(TypeRef::Complex(q)) if !entity => Ok(Some(q)),
        _ => Err(Error::DanglingType {
            location: Location::at(text, offset),
            referrer: format!("the base type of {owner}"),
            type_name: base,
        }),
    }
}

/// Visits every annotation list of the document.
fn for_each_annotation_list(doc: &mut Document, mut f: impl FnMut(&mut Vec<Annotation>)) {
    for t in &mut doc.entity_types {
        f(&mut t.annotations);
        t.properties.iter_mut().for_each(|p| f(&mut p.annotations));
        t.navigation_properties
            .iter_mut()
            .for_each(|n| f(&mut n.annotations));
    }
    for t in &mut doc.complex_types {
        f(&mut t.annotations);
        t.properties.iter_mut().for_each(|p| f(&mut p.annotations));
        t.navigation_properties
            .iter_mut()
            .for_each(|n| f(&mut n.annotations));
    }
    for t in &mut doc.enum_types {
        f(&mut t.annotations);
        t.members.iter_mut().for_each(|m| f(&mut m.annotations));
    }
    for t in &mut doc.type_definitions {
        f(&mut t.annotations);
    }
    for op in &mut doc.operations {
        f(&mut op.annotations);
        op.parameters.iter_mut().for_each(|p| f(&mut p.annotations));
    }
    for (c, _) in &mut doc.containers {
        f(&mut c.annotations);
        c.entity_sets.iter_mut().for_each(|s| f(&mut s.annotations));
        c.singletons.iter_mut().for_each(|s| f(&mut s.annotations));
    }
    for a in &mut doc.annotations {
        f(&mut a.annotations);
    }
}

/// Copies `<Annotations Target="T">` and `Target="T/p"` onto entity and complex types and
/// their declared properties. Other targets stay in the out-of-line list only.
fn apply_out_of_line(
    doc: &mut Document,
    aliases: &Aliases,
    index: &FastMap<String, (TypeSlot, usize)>,
) {
    let targets: Vec<(String, Option<String>, Vec<Annotation>)> = doc
        .annotations
        .iter()
        .map(|a| {
            let (ty, member) = match a.target.split_once('/') {
                Some((t, m)) => (t, Some(m.to_owned())),
                None => (a.target.as_str(), None),
            };
            let ty = aliases.qualify(ty).unwrap_or_else(|| ty.to_owned());
            (ty, member, a.annotations.clone())
        })
        .collect();
    for (ty, member, annotations) in targets {
        let Some((slot, _)) = index.get(&ty) else {
            continue;
        };
        let (own, properties) = match *slot {
            TypeSlot::Entity(i) => {
                let t = &mut doc.entity_types[i];
                (&mut t.annotations, &mut t.properties)
            }
            TypeSlot::Complex(i) => {
                let t = &mut doc.complex_types[i];
                (&mut t.annotations, &mut t.properties)
            }
            _ => continue,
        };
        match member {
            None => own.extend(annotations),
            Some(m) => {
                if let Some(p) = properties.iter_mut().find(|p| p.name == m) {
                    p.annotations.extend(annotations);
                }
            }
        }
    }
}

/// Refuses a type reference with more than `MAX_COLLECTION_NESTING` `Collection(` wrappers,
/// at the member or operation that has it.
fn check_collection_nesting(text: &str, doc: &Document) -> Result<()> {
    fn written<'d>(
        properties: &'d [Property],
        navigation: &'d [NavigationProperty],
    ) -> impl Iterator<Item = (&'d str, usize)> {
        let properties = properties.iter().map(|p| (&*p.type_name, p.offset));
        properties.chain(navigation.iter().map(|n| (&*n.type_name, n.offset)))
    }
    let members = doc
        .entity_types
        .iter()
        .flat_map(|t| written(&t.properties, &t.navigation_properties))
        .chain(
            doc.complex_types
                .iter()
                .flat_map(|t| written(&t.properties, &t.navigation_properties)),
        )
        .chain(doc.operations.iter().flat_map(|op| {
            op.parameters
                .iter()
                .map(|p| (&*p.type_name, p.offset))
                .chain(op.return_type.iter().map(|r| (&*r.type_name, op.offset)))
        }));
    for (written, offset) in members {
        let mut rest = written.trim();
        let mut depth = 0;
        while let Some(inner) = rest.strip_prefix("Collection(") {
            depth += 1;
            if depth > super::MAX_COLLECTION_NESTING {
                return Err(Error::TooDeep {
                    location: Location::at(text, offset),
                    what: "`Collection(...)` nesting".into(),
                    limit: super::MAX_COLLECTION_NESTING,
                });
            }
            rest = inner.trim_start();
        }
    }
    Ok(())
}

/// Counts inherited members handed to derived types, refusing past `MAX_INHERITED_MEMBERS`.
struct InheritedBudget<'t> {
    text: &'t str,
    given: usize,
}

impl InheritedBudget<'_> {
    fn take(&mut self, members: usize, offset: usize) -> Result<()> {
        self.given = self.given.saturating_add(members);
        if self.given > super::MAX_INHERITED_MEMBERS {
            return Err(Error::TooDeep {
                location: Location::at(self.text, offset),
                what: "the members derived types inherit, counted over the document,".into(),
                limit: super::MAX_INHERITED_MEMBERS,
            });
        }
        Ok(())
    }
}

/// Flattens entity type inheritance: each type gets its bases' members first.
fn flatten_entities(
    text: &str,
    types: &mut [EntityType],
    index: &FastMap<String, (TypeSlot, usize)>,
) -> Result<()> {
    let order = inheritance_order(
        text,
        types.len(),
        |i| types[i].base_type.as_deref(),
        |i| (types[i].name.as_str(), types[i].offset),
        |base| match index.get(base) {
            Some((TypeSlot::Entity(j), _)) => Some(*j),
            _ => None,
        },
    )?;
    let mut budget = InheritedBudget { text, given: 0 };
    for i in order {
        let Some(base) = types[i].base_type.clone() else {
            continue;
        };
        let Some((TypeSlot::Entity(j), _)) = index.get(&base) else {
            continue;
        };
        {
            let b = &types[*j];
            budget.take(
                b.properties.len() + b.navigation_properties.len(),
                types[i].offset,
            )?;
        }
        let (base_props, base_navs, base_key) = {
            let b = &types[*j];
            (
                b.properties.clone(),
                b.navigation_properties.clone(),
                b.key.clone(),
            )
        };
        let t = &mut types[i];
        prepend(&mut t.properties, base_props);
        prepend(&mut t.navigation_properties, base_navs);
        if t.key.is_empty() {
            t.key = base_key;
        }
    }
    // One table for all the checks: it keeps the size of the largest type.
    let mut seen = FastMap::default();
    for t in types.iter() {
        check_unique(&mut seen, text, &t.name, &t.properties, |p| {
            (&p.name, p.offset)
        })?;
        check_unique(&mut seen, text, &t.name, &t.navigation_properties, |n| {
            (&n.name, n.offset)
        })?;
    }
    Ok(())
}

fn flatten_complex(
    text: &str,
    types: &mut [ComplexType],
    index: &FastMap<String, (TypeSlot, usize)>,
) -> Result<()> {
    let order = inheritance_order(
        text,
        types.len(),
        |i| types[i].base_type.as_deref(),
        |i| (types[i].name.as_str(), types[i].offset),
        |base| match index.get(base) {
            Some((TypeSlot::Complex(j), _)) => Some(*j),
            _ => None,
        },
    )?;
    let mut budget = InheritedBudget { text, given: 0 };
    for i in order {
        let Some(base) = types[i].base_type.clone() else {
            continue;
        };
        let Some((TypeSlot::Complex(j), _)) = index.get(&base) else {
            continue;
        };
        let (base_props, base_navs) = {
            let b = &types[*j];
            budget.take(
                b.properties.len() + b.navigation_properties.len(),
                types[i].offset,
            )?;
            (b.properties.clone(), b.navigation_properties.clone())
        };
        let t = &mut types[i];
        prepend(&mut t.properties, base_props);
        prepend(&mut t.navigation_properties, base_navs);
    }
    let mut seen = FastMap::default();
    for t in types.iter() {
        check_unique(&mut seen, text, &t.name, &t.properties, |p| {
            (&p.name, p.offset)
        })?;
    }
    Ok(())
}

/// Indices ordered so that every base comes before the types deriving from it.
fn inheritance_order<'t>(
    text: &str,
    len: usize,
    base_of: impl Fn(usize) -> Option<&'t str>,
    name_of: impl Fn(usize) -> (&'t str, usize),
    slot_of: impl Fn(&str) -> Option<usize>,
) -> Result<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Visiting,
        Done,
    }
    let mut state = vec![State::New; len];
    let mut depth = vec![0usize; len];
    let mut order = Vec::with_capacity(len);
    for start in 0..len {
        // Walk up the chain, then emit it from the root down.
        let mut chain = Vec::new();
        let mut current = Some(start);
        while let Some(i) = current {
            match state[i] {
                State::Done => break,
                State::Visiting => {
                    let (name, offset) = name_of(i);
                    return Err(Error::InheritanceCycle {
                        location: Location::at(text, offset),
                        type_name: name.to_owned(),
                    });
                }
                State::New => {
                    state[i] = State::Visiting;
                    chain.push(i);
                    current = base_of(i).and_then(&slot_of);
                }
            }
        }
        for &i in chain.iter().rev() {
            // Bases are done first, so the base's depth is known.
            depth[i] = base_of(i).and_then(&slot_of).map_or(0, |b| depth[b] + 1);
            if depth[i] > super::MAX_INHERITANCE_DEPTH {
                let (name, offset) = name_of(i);
                return Err(Error::TooDeep {
                    location: Location::at(text, offset),
                    what: format!("the inheritance chain of `{name}`"),
                    limit: super::MAX_INHERITANCE_DEPTH,
                });
            }
            state[i] = State::Done;
            order.push(i);
        }
    }
    Ok(order)
}

/// Puts the base's members before the type's own.
fn prepend<T>(own: &mut Vec<T>, inherited: Vec<T>) {
    if inherited.is_empty() {
        return;
    }
    let mut all = Vec::with_capacity(inherited.len() + own.len());
    all.extend(inherited);
    all.append(own);
    *own = all;
}

/// Reports the first exact duplicate name among a type's members (inherited ones included).
fn check_unique<'m, T>(
    seen: &mut FastMap<&'m str, usize>,
    text: &str,
    owner: &str,
    members: &'m [T],
    name: impl Fn(&'m T) -> (&'m String, usize),
) -> Result<()> {
    seen.clear();
    for m in members {
        let (n, offset) = name(m);
        if let Some(first) = seen.insert(n.as_str(), offset) {
            return Err(Error::Duplicate {
                location: Location::at(text, offset),
                kind: format!("member of `{owner}`"),
                name: n.clone(),
                first_line: Location::at(text, first).line,
            });
        }
    }
    Ok(())
}

/// What a lookup target needs of the entity type it points at.
struct Targets<'a> {
    index: &'a FastMap<String, (TypeSlot, usize)>,
    types: &'a [EntityType],
    /// The first entity set of each type, by the type's place in `types`.
    sets: &'a [Option<String>],
}

impl Targets<'_> {
    /// The logical name and entity set of the entity type with this qualified name.
    fn of(&self, qualified: &str) -> (String, Option<String>) {
        match self.index.get(qualified) {
            Some((TypeSlot::Entity(i), _)) => (
                self.types
                    .get(*i)
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
                self.sets.get(*i).cloned().flatten(),
            ),
            _ => (String::new(), None),
        }
    }
}

/// Groups single-valued navigation properties by the `_x_value` property their referential
/// constraint names.
fn lookups(t: &EntityType, targets: &Targets<'_>) -> Vec<Lookup> {
    let mut groups: BTreeMap<&str, Vec<LookupTarget>> = BTreeMap::new();
    for n in t.navigation_properties.iter().filter(|n| !n.collection) {
        for c in &n.referential_constraints {
            if lookup_name(&c.property).is_none() || t.property(&c.property).is_none() {
                continue;
            }
            let (logical_name, entity_set) = targets.of(&n.target);
            super::parse::push_small(
                groups.entry(&c.property).or_default(),
                LookupTarget {
                    navigation_property: n.name.clone(),
                    entity_type: n.target.clone(),
                    logical_name,
                    entity_set,
                    referenced_property: c.referenced_property.clone(),
                },
            );
        }
    }
    groups
        .into_iter()
        .map(|(property, mut targets)| {
            targets.sort_by(|a, b| a.navigation_property.cmp(&b.navigation_property));
            Lookup {
                name: lookup_name(property).unwrap_or(property).to_owned(),
                property: property.to_owned(),
                targets,
            }
        })
        .collect()
}

/// Reads `OData.Community.Keys.V1.AlternateKeys`: a collection of records whose `Key` is a
/// collection of `{Alias, Name}` records.
fn alternate_keys(annotations: &[Annotation]) -> Vec<AlternateKey> {
    let mut keys = Vec::new();
    for a in annotations.iter().filter(|a| a.term == KEYS_ALTERNATE_KEYS) {
        let AnnotationValue::Collection(records) = &a.value else {
            continue;
        };
        for record in records {
            let Some(AnnotationValue::Collection(parts)) = record.record_property("Key") else {
                continue;
            };
            let parts: Vec<AlternateKeyPart> = parts
                .iter()
                .filter_map(|part| {
                    let property = part.record_property("Name")?.as_str()?.to_owned();
                    let alias = part
                        .record_property("Alias")
                        .and_then(AnnotationValue::as_str)
                        .map_or_else(|| property.clone(), str::to_owned);
                    Some(AlternateKeyPart { alias, property })
                })
                .collect();
            if !parts.is_empty() {
                keys.push(AlternateKey { parts });
            }
        }
    }
    keys
}

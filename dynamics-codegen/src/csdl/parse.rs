//! The streaming reader: CSDL XML → unresolved items.
//!
//! One recursive-descent function per element kind, each reading events until its end tag.
//! Element names are matched on their local name, so `edmx:` prefixes and default namespaces
//! both work. Type names are kept as written here; [`super::resolve`] resolves them.

use std::borrow::Cow;
use std::sync::Arc;

use quick_xml::XmlVersion;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::name::QName;
use quick_xml::reader::Reader;

use super::annotation::{Annotation, AnnotationValue};
use super::model::*;
use super::names::{Attr, attr, known_attr, known_name};
use super::scan::{attribute_key, find_quote, find_value_end, is_space, is_xml_space};
use crate::error::{Error, Location, Result, Warning};

/// Everything one document declares, before resolution.
#[derive(Default)]
pub(crate) struct Document {
    pub includes: Vec<Include>,
    pub schemas: Vec<Schema>,
    pub entity_types: Vec<EntityType>,
    pub complex_types: Vec<ComplexType>,
    pub enum_types: Vec<EnumType>,
    pub type_definitions: Vec<TypeDefinition>,
    pub operations: Vec<Operation>,
    pub terms: Vec<Term>,
    pub containers: Vec<(EntityContainer, usize)>,
    pub annotations: Vec<OutOfLineAnnotations>,
    pub warnings: Vec<Warning>,
    /// Byte offsets of items that resolution may need to report on, keyed by kind.
    pub entity_set_offsets: Vec<usize>,
    pub type_definition_offsets: Vec<usize>,
}

/// Reads a whole CSDL document. `text` must not start with a byte-order mark.
pub(crate) fn parse(text: &str) -> Result<Document> {
    let mut parser = Parser {
        reader: Reader::from_str(text),
        text,
        doc: Document::default(),
        stacks: Stacks::default(),
    };
    let config = parser.reader.config_mut();
    config.check_end_names = true;
    // White space between elements is all but half the events of a CSDL document; the reader
    // skips it without an event. Text the model keeps is read with this off
    // ([`Parser::text_content`]), so it keeps its white space.
    config.trim_text_start = true;
    parser.document()?;
    Ok(parser.doc)
}

/// Attributes kept inline per element; more spill to the heap (rare: CSDL elements have few).
const INLINE_ATTRIBUTES: usize = 8;
/// Keys other than CSDL's own (namespace declarations, prefixed names) remembered for the
/// duplicate check of the fast path; more take the slow path.
const OTHER_KEYS: usize = 8;

/// A start tag with the CSDL attributes it has, in document order.
///
/// Values borrow from the document unless normalization (entities, tabs, line ends) changed
/// them. One `Element` is reused for every child of a parent, so reading allocates nothing.
struct Element<'a> {
    name: Cow<'static, str>,
    len: usize,
    keys: [Attr; INLINE_ATTRIBUTES],
    values: [Cow<'a, str>; INLINE_ATTRIBUTES],
    spill: Vec<(Attr, Cow<'a, str>)>,
    offset: usize,
    /// `<X/>`: no children, no end tag.
    empty: bool,
}

impl<'a> Element<'a> {
    fn new() -> Self {
        Element {
            name: Cow::Borrowed(""),
            len: 0,
            keys: [Attr(0); INLINE_ATTRIBUTES],
            values: std::array::from_fn(|_| Cow::Borrowed("")),
            spill: Vec::new(),
            offset: 0,
            empty: true,
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.spill.clear();
    }

    #[inline(always)]
    fn push(&mut self, key: Attr, value: Cow<'a, str>) {
        match (self.keys.get_mut(self.len), self.values.get_mut(self.len)) {
            (Some(k), Some(v)) => {
                *k = key;
                *v = value;
                self.len += 1;
            }
            _ => self.spill.push((key, value)),
        }
    }

    /// The value of the `index`th attribute, moved out (the element keeps an empty one).
    fn take(&mut self, index: usize) -> Cow<'a, str> {
        let slot = match index.checked_sub(self.len) {
            None => self.values.get_mut(index),
            Some(spilled) => self.spill.get_mut(spilled).map(|(_, v)| v),
        };
        slot.map(std::mem::take).unwrap_or_default()
    }

    /// The attributes, in document order.
    fn attrs(&self) -> impl Iterator<Item = (Attr, &str)> {
        let keys = self.keys.get(..self.len).unwrap_or_default();
        keys.iter()
            .zip(&self.values)
            .map(|(k, v)| (*k, v.as_ref()))
            .chain(self.spill.iter().map(|(k, v)| (*k, v.as_ref())))
    }

    /// Whether the attribute is there already.
    #[inline]
    fn has(&self, attr: Attr) -> bool {
        let keys = self.keys.get(..self.len).unwrap_or_default();
        keys.contains(&attr) || self.spill.iter().any(|(k, _)| *k == attr)
    }

    #[inline]
    fn get(&self, attr: Attr) -> Option<&str> {
        let keys = self.keys.get(..self.len).unwrap_or_default();
        match keys.iter().position(|k| *k == attr) {
            Some(i) => self.values.get(i).map(|v| v.as_ref()),
            None if self.spill.is_empty() => None,
            None => self
                .spill
                .iter()
                .find(|(k, _)| *k == attr)
                .map(|(_, v)| v.as_ref()),
        }
    }
}

/// What the next event means to a parent reading its children.
enum Child<'a> {
    /// A start or empty tag, decoded into the caller's [`Element`].
    Element,
    /// Text as the document has it, line ends not yet normalized.
    Raw(BytesText<'a>),
    /// Text already decoded (CDATA, a character or entity reference).
    Text(Cow<'a, str>),
    End,
}

impl Child<'_> {
    /// Whether this is text with nothing but white space.
    fn is_blank(&self) -> bool {
        match self {
            // Almost all text between CSDL elements is indentation: check the raw bytes first.
            Child::Raw(raw) => {
                raw.bytes().all(|b| is_space(&b))
                    || raw.xml_content(XmlVersion::Implicit1_0).trim().is_empty()
            }
            Child::Text(text) => text.trim().is_empty(),
            Child::Element | Child::End => false,
        }
    }
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    text: &'a str,
    doc: Document,
    stacks: Stacks,
}

/// Members being collected, innermost element last; each element takes its own off the top.
#[derive(Default)]
struct Stacks {
    properties: Vec<Property>,
    navigation: Vec<NavigationProperty>,
    annotations: Vec<Annotation>,
    bindings: Vec<NavigationPropertyBinding>,
}

impl<'a> Parser<'a> {
    fn location(&self, offset: usize) -> Location {
        Location::at(self.text, offset)
    }

    fn warn(&mut self, offset: usize, message: String) {
        let location = self.location(offset);
        self.doc.warnings.push(Warning { location, message });
    }

    fn xml_error(&self, offset: usize, message: impl std::fmt::Display) -> Error {
        Error::Xml {
            location: self.location(offset),
            message: message.to_string(),
        }
    }

    /// Attribute errors count positions from just after the element's `<`.
    fn attribute_error(&self, element_offset: usize, error: AttrError) -> Error {
        let position = match error {
            AttrError::ExpectedEq(p)
            | AttrError::ExpectedValue(p)
            | AttrError::UnquotedValue(p)
            | AttrError::ExpectedQuote(p, _)
            | AttrError::Duplicated(p, _) => p,
        };
        let message = error.to_string();
        let message = match message.split_once(": ") {
            Some((prefix, rest)) if prefix.starts_with("position ") => rest.to_owned(),
            _ => message,
        };
        self.xml_error(element_offset + 1 + position, message)
    }

    /// `part` re-sliced from the document, with the document's lifetime, when it lies in it.
    fn in_text(&self, part: &str) -> Option<&'a str> {
        let start = (part.as_ptr() as usize).checked_sub(self.text.as_ptr() as usize)?;
        self.text.get(start..start.checked_add(part.len())?)
    }

    /// Where an event other than text begins when the read began at `read_from`: after the
    /// white space the reader skips before markup and references.
    fn markup_start(&self, read_from: usize) -> usize {
        let rest = self.text.get(read_from..).unwrap_or_default();
        read_from + rest.len() - rest.trim_start_matches(is_xml_space).len()
    }

    /// The byte offset of the `<` of a start tag. The reader skips white space before a tag
    /// within the same read, so the position before the read may lie before it.
    fn tag_offset(&self, start: &BytesStart<'_>, read_from: usize) -> usize {
        let name = start.name().into_inner();
        (name.as_ptr() as usize)
            .checked_sub(self.text.as_ptr() as usize + 1)
            .filter(|&at| at < self.text.len())
            .unwrap_or(read_from)
    }

    /// Decodes a start tag into `out`.
    fn element(
        &self,
        start: &BytesStart<'_>,
        offset: usize,
        empty: bool,
        out: &mut Element<'a>,
    ) -> Result<()> {
        // The part after the first `:`, as `QName::local_name` has it. Most names have no
        // prefix and are CSDL's own: that lookup comes first, and only a miss looks for a `:`.
        let name = start.name().into_inner();
        out.name = match known_name(name) {
            Some(known) => Cow::Borrowed(known),
            None => {
                let local = name.split_once(':').map_or(name, |(_, local)| local);
                match known_name(local) {
                    Some(known) => Cow::Borrowed(known),
                    None => Cow::Owned(local.to_owned()),
                }
            }
        };
        out.offset = offset;
        out.empty = empty;
        out.clear();
        if let Some(raw) = self.in_text(start.attributes_raw())
            && self.fast_attributes(raw, offset, out)?
        {
            return Ok(());
        }
        // The general path: quick-xml's attribute reader, which also words every error.
        out.clear();
        for attr in start.attributes() {
            let attr = attr.map_err(|e| self.attribute_error(offset, e))?;
            // Attributes CSDL does not define (and namespace declarations) carry nothing we use.
            let Some(key) = known_attr(attr.key.local_name().into_inner().as_bytes()) else {
                continue;
            };
            if attr.key.prefix().is_some_and(|p| p.into_inner() == "xmlns") {
                continue;
            }
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| self.xml_error(offset, e))?;
            let value = match value {
                Cow::Borrowed(v) => match self.in_text(v) {
                    Some(v) => Cow::Borrowed(v),
                    None => Cow::Owned(v.to_owned()),
                },
                Cow::Owned(v) => Cow::Owned(v),
            };
            out.push(key, value);
        }
        Ok(())
    }

    /// Reads well-formed attributes (` key="value"`, keys unique) straight from the document,
    /// borrowing their values. Returns `false`, leaving the rest to the general path, at the
    /// first thing it does not expect, so that every error is worded by quick-xml.
    ///
    /// The tag is walked from one `"` to the next: a value lies between an opening and a
    /// closing quote, and what comes before the opening one must be white space, a key and `=`.
    /// A `'` anywhere outside a value sends the tag to the general path.
    fn fast_attributes(&self, raw: &'a str, offset: usize, out: &mut Element<'a>) -> Result<bool> {
        let bytes = raw.as_bytes();
        // CSDL's own keys are checked for duplicates among those kept, any other among those
        // seen.
        let mut others: [&str; OTHER_KEYS] = [""; OTHER_KEYS];
        let mut other_count = 0usize;
        let mut from = 0usize;
        loop {
            let Some(open) = find_quote(bytes, from) else {
                // Nothing but white space may follow the last value.
                let tail = bytes.get(from..).unwrap_or_default();
                return Ok(tail.iter().all(is_space));
            };
            let Some((close, plain)) = find_value_end(bytes, open + 1) else {
                return Ok(false);
            };
            let (Some(before), Some(value)) = (bytes.get(from..open), raw.get(open + 1..close))
            else {
                return Ok(false);
            };
            let key_from = from;
            from = close + 1;
            // The usual ` Key=`: a CSDL name there needs no more checking, as none has white
            // space, `=` or a quote in it.
            let common = match before {
                [b' ', key @ .., b'='] => known_attr(key),
                _ => None,
            };
            let known = match common {
                Some(known) => known,
                None => {
                    let Some(key) = attribute_key(before)
                        .and_then(|k| raw.get(key_from + k.start..key_from + k.end))
                    else {
                        return Ok(false);
                    };
                    match known_attr(key.as_bytes()) {
                        Some(known) => known,
                        None => {
                            let earlier = others.get(..other_count).unwrap_or_default();
                            if other_count == OTHER_KEYS || earlier.contains(&key) {
                                return Ok(false);
                            }
                            if let Some(slot) = others.get_mut(other_count) {
                                *slot = key;
                            }
                            other_count += 1;
                            // A prefixed CSDL name counts by its local part, as on the general
                            // path; namespace declarations carry nothing we use.
                            match key.split_once(':') {
                                Some((prefix, local)) if prefix != "xmlns" => {
                                    match known_attr(local.as_bytes()) {
                                        Some(known) => known,
                                        None => continue,
                                    }
                                }
                                _ => continue,
                            }
                        }
                    }
                }
            };
            // CSDL's own names once each (a prefixed one and its plain twin included: the
            // general path sorts those out).
            if out.has(known) {
                return Ok(false);
            }
            let value = if plain {
                Cow::Borrowed(value)
            } else {
                let attribute = Attribute {
                    key: QName(known.name()),
                    value: Cow::Borrowed(value),
                };
                attribute
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|e| self.xml_error(offset, e))?
            };
            out.push(known, value);
        }
    }

    /// The next child of the element being read, skipping comments. A start or empty tag is
    /// decoded into `out`.
    fn next_child(
        &mut self,
        parent: &str,
        parent_offset: usize,
        out: &mut Element<'a>,
    ) -> Result<Child<'a>> {
        loop {
            let offset = self.reader.buffer_position() as usize;
            let event = self
                .reader
                .read_event()
                .map_err(|e| self.xml_error(self.reader.error_position() as usize, e))?;
            return Ok(match event {
                Event::Start(start) => {
                    self.element(&start, self.tag_offset(&start, offset), false, out)?;
                    Child::Element
                }
                Event::Empty(start) => {
                    self.element(&start, self.tag_offset(&start, offset), true, out)?;
                    Child::Element
                }
                Event::End(_) => Child::End,
                Event::Text(text) => Child::Raw(text),
                Event::CData(data) => Child::Text(Cow::Owned(data.into_inner().into_owned())),
                Event::GeneralRef(reference) => {
                    let offset = self.markup_start(offset);
                    let resolved = match reference.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => quick_xml::escape::resolve_predefined_entity(&reference)
                            .ok_or_else(|| {
                                self.xml_error(
                                    offset,
                                    format!("unknown entity reference `&{};`", &*reference),
                                )
                            })?
                            .to_string(),
                        Err(e) => return Err(self.xml_error(offset, e)),
                    };
                    Child::Text(Cow::Owned(resolved))
                }
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => continue,
                Event::Eof => {
                    // At the end of the document, past any white space the reader skipped.
                    let end = self.reader.buffer_position() as usize;
                    return Err(self.xml_error(
                        end,
                        format!(
                            "document ends inside <{parent}> opened at {}",
                            self.location(parent_offset)
                        ),
                    ));
                }
            });
        }
    }

    /// Reads the children of `parent`, handing each element to `on_element`. Text is ignored
    /// with a warning (CSDL structure elements have none).
    fn children(
        &mut self,
        parent: &Element<'a>,
        mut on_element: impl FnMut(&mut Self, &mut Element<'a>) -> Result<()>,
    ) -> Result<()> {
        if parent.empty {
            return Ok(());
        }
        let mut child = Element::new();
        loop {
            match self.next_child(&parent.name, parent.offset, &mut child)? {
                Child::End => return Ok(()),
                Child::Element => on_element(self, &mut child)?,
                text if text.is_blank() => {}
                _ => {
                    let message = format!("text inside <{}> ignored", parent.name);
                    self.warn(parent.offset, message);
                }
            }
        }
    }

    /// Skips an element we do not model, with a warning.
    fn unmodelled(&mut self, parent: &str, element: &Element<'a>) -> Result<()> {
        let message = format!(
            "<{}> inside <{parent}> is not modelled; ignored",
            element.name
        );
        self.warn(element.offset, message);
        self.skip(element)
    }

    fn skip(&mut self, element: &Element<'a>) -> Result<()> {
        if element.empty {
            return Ok(());
        }
        let mut depth = 0usize;
        let mut child = Element::new();
        loop {
            match self.next_child(&element.name, element.offset, &mut child)? {
                Child::Element if !child.empty => depth += 1,
                Child::End if depth == 0 => return Ok(()),
                Child::End => depth -= 1,
                _ => {}
            }
        }
    }

    fn required(&self, element: &Element<'a>, attribute: Attr) -> Result<String> {
        self.required_str(element, attribute).map(str::to_owned)
    }

    #[inline]
    fn required_str<'e>(&self, element: &'e Element<'a>, attribute: Attr) -> Result<&'e str> {
        element
            .get(attribute)
            .ok_or_else(|| Error::MissingAttribute {
                location: self.location(element.offset),
                element: element.name.to_string(),
                attribute: attribute.name().to_owned(),
            })
    }

    fn invalid(
        &self,
        element: &Element<'a>,
        attribute: &str,
        value: &str,
        expected: &'static str,
    ) -> Error {
        Error::InvalidAttribute {
            location: self.location(element.offset),
            element: element.name.to_string(),
            attribute: attribute.to_owned(),
            value: value.to_owned(),
            expected,
        }
    }

    fn bool_attr(&self, element: &Element<'a>, attribute: Attr, default: bool) -> Result<bool> {
        match element.get(attribute) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(self.invalid(element, attribute.name(), other, "`true` or `false`")),
        }
    }

    fn number_attr<T: std::str::FromStr>(
        &self,
        element: &Element<'a>,
        attribute: Attr,
    ) -> Result<Option<T>> {
        element
            .get(attribute)
            .map(|v| {
                v.parse()
                    .map_err(|_| self.invalid(element, attribute.name(), v, "a whole number"))
            })
            .transpose()
    }

    fn facets(&self, element: &Element<'a>) -> Result<Facets> {
        let max_length = match element.get(attr!("MaxLength")) {
            None => None,
            Some(v) if v.eq_ignore_ascii_case("max") => Some(MaxLength::Max),
            Some(v) => Some(MaxLength::Length(v.parse().map_err(|_| {
                self.invalid(element, "MaxLength", v, "a whole number or `max`")
            })?)),
        };
        let scale = match element.get(attr!("Scale")) {
            None => None,
            Some(v) if v.eq_ignore_ascii_case("variable") || v.eq_ignore_ascii_case("floating") => {
                Some(Scale::Variable)
            }
            Some(v) => Some(Scale::Digits(v.parse().map_err(|_| {
                self.invalid(element, "Scale", v, "a whole number or `variable`")
            })?)),
        };
        Ok(Facets {
            nullable: self.bool_attr(element, attr!("Nullable"), true)?,
            max_length,
            precision: self.number_attr(element, attr!("Precision"))?,
            scale,
            srid: element.get(attr!("SRID")).map(str::to_owned),
            unicode: match element.get(attr!("Unicode")) {
                None => None,
                Some(_) => Some(self.bool_attr(element, attr!("Unicode"), true)?),
            },
        })
    }

    fn document(&mut self) -> Result<()> {
        // The root element, after the declaration and any comments.
        let mut root = Element::new();
        loop {
            let offset = self.reader.buffer_position() as usize;
            let event = self
                .reader
                .read_event()
                .map_err(|e| self.xml_error(self.reader.error_position() as usize, e))?;
            match event {
                Event::Start(start) => {
                    let offset = self.tag_offset(&start, offset);
                    break self.element(&start, offset, false, &mut root)?;
                }
                Event::Empty(start) => {
                    let offset = self.tag_offset(&start, offset);
                    break self.element(&start, offset, true, &mut root)?;
                }
                Event::Text(t) if t.xml_content(XmlVersion::Implicit1_0).trim().is_empty() => {}
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {}
                Event::Eof => {
                    let end = self.reader.buffer_position() as usize;
                    return Err(Error::NotCsdl {
                        location: self.location(end),
                        message: "the document has no root element".into(),
                    });
                }
                event => {
                    // Text starts where the read began, anything else after the white space
                    // the reader skipped.
                    let at = match event {
                        Event::Text(_) => offset,
                        _ => self.markup_start(offset),
                    };
                    return Err(Error::NotCsdl {
                        location: self.location(at),
                        message: "content before the root element".into(),
                    });
                }
            }
        }
        if root.name != "Edmx" {
            return Err(Error::NotCsdl {
                location: self.location(root.offset),
                message: format!("the root element is <{}>, not <edmx:Edmx>", root.name),
            });
        }
        let root_offset = root.offset;
        self.children(&root, |p, child| match child.name.as_ref() {
            "Reference" => p.reference(child),
            "DataServices" => p.children(child, |p, schema| match schema.name.as_ref() {
                "Schema" => p.schema(schema),
                _ => p.unmodelled("DataServices", schema),
            }),
            _ => p.unmodelled("Edmx", child),
        })?;
        if self.doc.schemas.is_empty() {
            return Err(Error::NotCsdl {
                location: self.location(root_offset),
                message: "<edmx:Edmx> holds no <Schema> inside <edmx:DataServices>".into(),
            });
        }
        // Anything after the root other than comments and white space is malformed.
        loop {
            let offset = self.reader.buffer_position() as usize;
            match self
                .reader
                .read_event()
                .map_err(|e| self.xml_error(self.reader.error_position() as usize, e))?
            {
                Event::Eof => return Ok(()),
                Event::Comment(_) | Event::PI(_) => {}
                Event::Text(t) if t.xml_content(XmlVersion::Implicit1_0).trim().is_empty() => {}
                // Text starts where the read began, with the white space the reader skipped.
                Event::Text(_) => {
                    return Err(self.xml_error(offset, "content after the root element"));
                }
                _ => {
                    let at = self.markup_start(offset);
                    return Err(self.xml_error(at, "content after the root element"));
                }
            }
        }
    }

    fn reference(&mut self, element: &Element<'a>) -> Result<()> {
        let uri = element.get(attr!("Uri")).unwrap_or_default().to_owned();
        self.children(element, |p, child| match child.name.as_ref() {
            "Include" => {
                let include = Include {
                    namespace: p.required(child, attr!("Namespace"))?,
                    alias: child.get(attr!("Alias")).map(str::to_owned),
                    uri: uri.clone(),
                };
                p.doc.includes.push(include);
                p.skip(child)
            }
            "IncludeAnnotations" => p.skip(child),
            _ => p.unmodelled("Reference", child),
        })
    }

    fn schema(&mut self, element: &Element<'a>) -> Result<()> {
        let namespace = self.required(element, attr!("Namespace"))?;
        self.doc.schemas.push(Schema {
            namespace: namespace.clone(),
            alias: element.get(attr!("Alias")).map(str::to_owned),
        });
        let ns = namespace.as_str();
        self.children(element, |p, child| match child.name.as_ref() {
            "EntityType" => {
                let s = p.structured(child, ns)?;
                p.doc.entity_types.push(EntityType {
                    name: s.name,
                    namespace: ns.to_owned(),
                    base_type: child.get(attr!("BaseType")).map(str::to_owned),
                    is_abstract: s.is_abstract,
                    open_type: s.open_type,
                    has_stream: p.bool_attr(child, attr!("HasStream"), false)?,
                    key: s.key,
                    declared_properties: s.properties.len(),
                    declared_navigation_properties: s.navigation.len(),
                    properties: s.properties,
                    navigation_properties: s.navigation,
                    annotations: s.annotations,
                    entity_set: None,
                    lookups: Vec::new(),
                    alternate_keys: Vec::new(),
                    offset: child.offset,
                });
                Ok(())
            }
            "ComplexType" => {
                let s = p.structured(child, ns)?;
                p.doc.complex_types.push(ComplexType {
                    name: s.name,
                    namespace: ns.to_owned(),
                    base_type: child.get(attr!("BaseType")).map(str::to_owned),
                    is_abstract: s.is_abstract,
                    open_type: s.open_type,
                    declared_properties: s.properties.len(),
                    declared_navigation_properties: s.navigation.len(),
                    properties: s.properties,
                    navigation_properties: s.navigation,
                    annotations: s.annotations,
                    offset: child.offset,
                });
                Ok(())
            }
            "EnumType" => p.enum_type(child, ns),
            "Action" => p.operation(child, ns, OperationKind::Action),
            "Function" => p.operation(child, ns, OperationKind::Function),
            "TypeDefinition" => p.type_definition(child, ns),
            "Term" => p.term(child, ns),
            "EntityContainer" => p.container(child, ns),
            "Annotations" => p.out_of_line(child),
            // Annotations of the schema itself are legal but carry nothing we use.
            "Annotation" => p.annotation(child).map(drop),
            "Property" | "NavigationProperty" | "Key" | "Member" | "Parameter" | "EntitySet" => {
                Err(p.misplaced(child, "Schema"))
            }
            _ => p.unmodelled("Schema", child),
        })
    }

    fn misplaced(&self, element: &Element<'a>, parent: &str) -> Error {
        Error::Misplaced {
            location: self.location(element.offset),
            element: element.name.to_string(),
            parent: parent.to_owned(),
        }
    }

    /// The common part of entity and complex types.
    fn structured(&mut self, element: &Element<'a>, namespace: &str) -> Result<Structured> {
        let name = self.required(element, attr!("Name"))?;
        let owner: Arc<str> = Arc::from(qualified(namespace, &name));
        let (props, navs, annotations) = (
            self.stacks.properties.len(),
            self.stacks.navigation.len(),
            self.stacks.annotations.len(),
        );
        let mut s = Structured {
            name,
            is_abstract: self.bool_attr(element, attr!("Abstract"), false)?,
            open_type: self.bool_attr(element, attr!("OpenType"), false)?,
            key: Vec::new(),
            properties: Vec::new(),
            navigation: Vec::new(),
            annotations: Vec::new(),
        };
        let is_entity = element.name == "EntityType";
        let kind = element.name.clone();
        self.children(element, |p, child| match child.name.as_ref() {
            "Property" => {
                let property = p.property(child, &owner)?;
                p.stacks.properties.push(property);
                Ok(())
            }
            "NavigationProperty" => {
                let navigation = p.navigation_property(child, &owner)?;
                p.stacks.navigation.push(navigation);
                Ok(())
            }
            "Key" if is_entity => p.children(child, |p, r| match r.name.as_ref() {
                "PropertyRef" => {
                    push_small(&mut s.key, p.required(r, attr!("Name"))?);
                    p.skip(r)
                }
                _ => p.unmodelled("Key", r),
            }),
            "Annotation" => {
                let annotation = p.annotation(child)?;
                p.stacks.annotations.push(annotation);
                Ok(())
            }
            "EntityType" | "ComplexType" | "EntitySet" | "Schema" => Err(p.misplaced(child, &kind)),
            _ => p.unmodelled(&kind, child),
        })?;
        // Collected on the stacks so that each list is allocated once, at its exact size.
        s.properties = take_from(&mut self.stacks.properties, props);
        s.navigation = take_from(&mut self.stacks.navigation, navs);
        s.annotations = take_from(&mut self.stacks.annotations, annotations);
        Ok(s)
    }

    fn annotations_only(&mut self, element: &Element<'a>) -> Result<Vec<Annotation>> {
        if element.empty {
            return Ok(Vec::new());
        }
        let base = self.stacks.annotations.len();
        let parent = element.name.clone();
        self.children(element, |p, child| match child.name.as_ref() {
            "Annotation" => {
                let annotation = p.annotation(child)?;
                p.stacks.annotations.push(annotation);
                Ok(())
            }
            _ => p.unmodelled(&parent, child),
        })?;
        Ok(take_from(&mut self.stacks.annotations, base))
    }

    fn property(&mut self, element: &Element<'a>, owner: &Arc<str>) -> Result<Property> {
        Ok(Property {
            name: self.required(element, attr!("Name"))?,
            type_name: type_name(self.required_str(element, attr!("Type"))?),
            ty: TypeRef::unresolved(),
            facets: self.facets(element)?,
            default_value: element.get(attr!("DefaultValue")).map(str::to_owned),
            concurrency_fixed: element.get(attr!("ConcurrencyMode")) == Some("Fixed"),
            declared_in: Arc::clone(owner),
            annotations: self.annotations_only(element)?,
            offset: element.offset,
        })
    }

    fn navigation_property(
        &mut self,
        element: &Element<'a>,
        owner: &Arc<str>,
    ) -> Result<NavigationProperty> {
        let mut nav = NavigationProperty {
            name: self.required(element, attr!("Name"))?,
            type_name: type_name(self.required_str(element, attr!("Type"))?),
            target: String::new(),
            collection: false,
            nullable: self.bool_attr(element, attr!("Nullable"), true)?,
            partner: element.get(attr!("Partner")).map(str::to_owned),
            contains_target: self.bool_attr(element, attr!("ContainsTarget"), false)?,
            referential_constraints: Vec::new(),
            on_delete: None,
            declared_in: Arc::clone(owner),
            annotations: Vec::new(),
            offset: element.offset,
        };
        self.children(element, |p, child| match child.name.as_ref() {
            "ReferentialConstraint" => {
                push_small(
                    &mut nav.referential_constraints,
                    ReferentialConstraint {
                        property: p.required(child, attr!("Property"))?,
                        referenced_property: p.required(child, attr!("ReferencedProperty"))?,
                    },
                );
                p.skip(child)
            }
            "OnDelete" => {
                nav.on_delete = Some(p.required(child, attr!("Action"))?);
                p.skip(child)
            }
            "Annotation" => {
                nav.annotations.push(p.annotation(child)?);
                Ok(())
            }
            _ => p.unmodelled("NavigationProperty", child),
        })?;
        Ok(nav)
    }

    fn enum_type(&mut self, element: &Element<'a>, namespace: &str) -> Result<()> {
        let underlying = match element.get(attr!("UnderlyingType")) {
            None => Primitive::Int32,
            Some(t) => t
                .strip_prefix("Edm.")
                .and_then(Primitive::from_edm_name)
                .filter(|p| {
                    matches!(
                        p,
                        Primitive::Byte
                            | Primitive::SByte
                            | Primitive::Int16
                            | Primitive::Int32
                            | Primitive::Int64
                    )
                })
                .ok_or_else(|| self.invalid(element, "UnderlyingType", t, "an Edm integer type"))?,
        };
        let mut enum_type = EnumType {
            name: self.required(element, attr!("Name"))?,
            namespace: namespace.to_owned(),
            underlying_type: underlying,
            is_flags: self.bool_attr(element, attr!("IsFlags"), false)?,
            members: Vec::new(),
            annotations: Vec::new(),
            offset: element.offset,
        };
        self.children(element, |p, child| match child.name.as_ref() {
            "Member" => {
                let name = p.required(child, attr!("Name"))?;
                // Without `Value`, members count up from 0 (or from the previous value).
                let value = match p.number_attr::<i64>(child, attr!("Value"))? {
                    Some(v) => v,
                    None => enum_type
                        .members
                        .last()
                        .map_or(0, |m| m.value.saturating_add(1)),
                };
                let annotations = p.annotations_only(child)?;
                enum_type.members.push(EnumMember {
                    name,
                    value,
                    annotations,
                });
                Ok(())
            }
            "Annotation" => {
                enum_type.annotations.push(p.annotation(child)?);
                Ok(())
            }
            _ => p.unmodelled("EnumType", child),
        })?;
        self.doc.enum_types.push(enum_type);
        Ok(())
    }

    fn operation(
        &mut self,
        element: &Element<'a>,
        namespace: &str,
        kind: OperationKind,
    ) -> Result<()> {
        let mut op = Operation {
            kind,
            name: self.required(element, attr!("Name"))?,
            namespace: namespace.to_owned(),
            is_bound: self.bool_attr(element, attr!("IsBound"), false)?,
            is_composable: self.bool_attr(element, attr!("IsComposable"), false)?,
            entity_set_path: element.get(attr!("EntitySetPath")).map(str::to_owned),
            parameters: Vec::new(),
            return_type: None,
            annotations: Vec::new(),
            offset: element.offset,
        };
        let parent = element.name.clone();
        self.children(element, |p, child| match child.name.as_ref() {
            "Parameter" => {
                let parameter = Parameter {
                    name: p.required(child, attr!("Name"))?,
                    type_name: type_name(p.required_str(child, attr!("Type"))?),
                    ty: TypeRef::unresolved(),
                    facets: p.facets(child)?,
                    annotations: Vec::new(),
                    offset: child.offset,
                };
                let annotations = p.annotations_only(child)?;
                op.parameters.push(Parameter {
                    annotations,
                    ..parameter
                });
                Ok(())
            }
            "ReturnType" => {
                op.return_type = Some(ReturnType {
                    type_name: type_name(p.required_str(child, attr!("Type"))?),
                    ty: TypeRef::unresolved(),
                    facets: p.facets(child)?,
                });
                p.annotations_only(child).map(drop)
            }
            "Annotation" => {
                op.annotations.push(p.annotation(child)?);
                Ok(())
            }
            _ => p.unmodelled(&parent, child),
        })?;
        if op.is_bound && op.parameters.is_empty() {
            return Err(Error::InvalidAttribute {
                location: self.location(op.offset),
                element: parent.to_string(),
                attribute: "IsBound".into(),
                value: "true".into(),
                expected: "a binding parameter (a bound operation needs at least one Parameter)",
            });
        }
        self.doc.operations.push(op);
        Ok(())
    }

    fn type_definition(&mut self, element: &Element<'a>, namespace: &str) -> Result<()> {
        let underlying = self.required(element, attr!("UnderlyingType"))?;
        let underlying_type = underlying
            .strip_prefix("Edm.")
            .and_then(Primitive::from_edm_name)
            .ok_or_else(|| {
                self.invalid(
                    element,
                    "UnderlyingType",
                    &underlying,
                    "an Edm primitive type",
                )
            })?;
        let definition = TypeDefinition {
            name: self.required(element, attr!("Name"))?,
            namespace: namespace.to_owned(),
            underlying_type,
            facets: self.facets(element)?,
            annotations: Vec::new(),
        };
        self.doc.type_definition_offsets.push(element.offset);
        let annotations = self.annotations_only(element)?;
        self.doc.type_definitions.push(TypeDefinition {
            annotations,
            ..definition
        });
        Ok(())
    }

    fn term(&mut self, element: &Element<'a>, namespace: &str) -> Result<()> {
        let term = Term {
            name: self.required(element, attr!("Name"))?,
            namespace: namespace.to_owned(),
            type_name: self.required(element, attr!("Type"))?,
            applies_to: element.get(attr!("AppliesTo")).map(str::to_owned),
            base_term: element.get(attr!("BaseTerm")).map(str::to_owned),
            default_value: element.get(attr!("DefaultValue")).map(str::to_owned),
            nullable: self.bool_attr(element, attr!("Nullable"), true)?,
        };
        self.annotations_only(element)?;
        self.doc.terms.push(term);
        Ok(())
    }

    fn container(&mut self, element: &Element<'a>, namespace: &str) -> Result<()> {
        let mut container = EntityContainer {
            name: self.required(element, attr!("Name"))?,
            namespace: namespace.to_owned(),
            ..EntityContainer::default()
        };
        self.children(element, |p, child| match child.name.as_ref() {
            "EntitySet" => {
                let set = p.entity_set(child)?;
                container.entity_sets.push(set);
                Ok(())
            }
            "Singleton" => {
                let (bindings, annotations) = p.bindings(child)?;
                container.singletons.push(Singleton {
                    name: p.required(child, attr!("Name"))?,
                    entity_type: p.required(child, attr!("Type"))?,
                    navigation_property_bindings: bindings,
                    annotations,
                });
                Ok(())
            }
            "ActionImport" | "FunctionImport" => {
                let is_action = child.name == "ActionImport";
                let import = OperationImport {
                    kind: if is_action {
                        OperationKind::Action
                    } else {
                        OperationKind::Function
                    },
                    name: p.required(child, attr!("Name"))?,
                    operation: p.required(
                        child,
                        if is_action {
                            attr!("Action")
                        } else {
                            attr!("Function")
                        },
                    )?,
                    entity_set: child.get(attr!("EntitySet")).map(str::to_owned),
                    include_in_service_document: p.bool_attr(
                        child,
                        attr!("IncludeInServiceDocument"),
                        false,
                    )?,
                };
                container.operation_imports.push(import);
                p.annotations_only(child).map(drop)
            }
            "Annotation" => {
                container.annotations.push(p.annotation(child)?);
                Ok(())
            }
            _ => p.unmodelled("EntityContainer", child),
        })?;
        self.doc.containers.push((container, element.offset));
        Ok(())
    }

    fn entity_set(&mut self, element: &Element<'a>) -> Result<EntitySet> {
        self.doc.entity_set_offsets.push(element.offset);
        let (bindings, annotations) = self.bindings(element)?;
        Ok(EntitySet {
            name: self.required(element, attr!("Name"))?,
            entity_type: self.required(element, attr!("EntityType"))?,
            navigation_property_bindings: bindings,
            include_in_service_document: self.bool_attr(
                element,
                attr!("IncludeInServiceDocument"),
                true,
            )?,
            annotations,
        })
    }

    fn bindings(
        &mut self,
        element: &Element<'a>,
    ) -> Result<(Vec<NavigationPropertyBinding>, Vec<Annotation>)> {
        let (bindings, annotations) = (self.stacks.bindings.len(), self.stacks.annotations.len());
        let parent = element.name.clone();
        self.children(element, |p, child| match child.name.as_ref() {
            "NavigationPropertyBinding" => {
                let binding = NavigationPropertyBinding {
                    path: p.required(child, attr!("Path"))?,
                    target: p.required(child, attr!("Target"))?,
                };
                p.stacks.bindings.push(binding);
                p.skip(child)
            }
            "Annotation" => {
                let annotation = p.annotation(child)?;
                p.stacks.annotations.push(annotation);
                Ok(())
            }
            _ => p.unmodelled(&parent, child),
        })?;
        Ok((
            take_from(&mut self.stacks.bindings, bindings),
            take_from(&mut self.stacks.annotations, annotations),
        ))
    }

    fn out_of_line(&mut self, element: &Element<'a>) -> Result<()> {
        let target = self.required(element, attr!("Target"))?;
        let qualifier = element.get(attr!("Qualifier")).map(str::to_owned);
        let annotations = self.annotations_only(element)?;
        self.doc.annotations.push(OutOfLineAnnotations {
            target,
            qualifier,
            annotations,
        });
        Ok(())
    }

    fn annotation(&mut self, element: &mut Element<'a>) -> Result<Annotation> {
        let term = super::annotation::term(self.required_str(element, attr!("Term"))?);
        let qualifier = element.get(attr!("Qualifier")).map(str::to_owned);
        let mut value = self.attribute_expression(element)?;
        self.children(element, |p, child| {
            if child.name == "Annotation" {
                // Annotations of annotations carry nothing we use.
                return p.skip(child);
            }
            let parsed = p.expression(child)?;
            if matches!(value, AnnotationValue::Empty) {
                value = parsed;
            }
            Ok(())
        })?;
        Ok(Annotation {
            term,
            qualifier,
            value,
        })
    }

    /// The constant expression given as an attribute (`String="..."`, `Bool="true"`).
    fn attribute_expression(&self, element: &mut Element<'a>) -> Result<AnnotationValue> {
        let mut string = None;
        for (i, (key, value)) in element.attrs().enumerate() {
            if key == attr!("String") {
                string = Some(i);
                break;
            }
            // The annotation's own attributes, which every annotation has, are no expression.
            if key == attr!("Term") || key == attr!("Qualifier") {
                continue;
            }
            if let Some(v) = self.constant(element, key.name(), Cow::Borrowed(value))? {
                return Ok(v);
            }
        }
        Ok(match string {
            // Moved out of the element: a value that normalization allocated is kept.
            Some(i) => AnnotationValue::String(element.take(i).into_owned()),
            None => AnnotationValue::Empty,
        })
    }

    fn constant(
        &self,
        element: &Element<'a>,
        kind: &str,
        value: Cow<'_, str>,
    ) -> Result<Option<AnnotationValue>> {
        Ok(Some(match kind {
            "String" => AnnotationValue::String(value.into_owned()),
            "Bool" => AnnotationValue::Bool(match value.trim() {
                "true" => true,
                "false" => false,
                other => return Err(self.invalid(element, kind, other, "`true` or `false`")),
            }),
            "Int" => AnnotationValue::Int(
                value
                    .trim()
                    .parse()
                    .map_err(|_| self.invalid(element, kind, &value, "a whole number"))?,
            ),
            "EnumMember" => AnnotationValue::EnumMember(trimmed(value)),
            "Path"
            | "PropertyPath"
            | "NavigationPropertyPath"
            | "AnnotationPath"
            | "ModelElementPath" => AnnotationValue::Path {
                kind: kind.to_owned(),
                path: trimmed(value),
            },
            "Decimal" | "Float" | "Date" | "DateTimeOffset" | "Guid" | "Duration" | "TimeOfDay"
            | "Binary" => AnnotationValue::Literal {
                kind: kind.to_owned(),
                value: trimmed(value),
            },
            _ => return Ok(None),
        }))
    }

    /// An expression written as an element.
    fn expression(&mut self, element: &mut Element<'a>) -> Result<AnnotationValue> {
        match element.name.as_ref() {
            "Collection" => {
                let mut items = Vec::new();
                self.children(element, |p, child| {
                    items.push(p.expression(child)?);
                    Ok(())
                })?;
                Ok(AnnotationValue::Collection(items))
            }
            "Record" => {
                let type_name = element.get(attr!("Type")).map(str::to_owned);
                let mut properties = Vec::new();
                self.children(element, |p, child| match child.name.as_ref() {
                    "PropertyValue" => {
                        let name = p.required(child, attr!("Property"))?;
                        let mut value = p.attribute_expression(child)?;
                        p.children(child, |p, inner| {
                            if inner.name == "Annotation" {
                                return p.skip(inner);
                            }
                            value = p.expression(inner)?;
                            Ok(())
                        })?;
                        properties.push((name, value));
                        Ok(())
                    }
                    "Annotation" => p.skip(child),
                    _ => p.unmodelled("Record", child),
                })?;
                Ok(AnnotationValue::Record {
                    type_name,
                    properties,
                })
            }
            _ => {
                let kind = element.name.clone();
                let text = self.text_content(element)?;
                match self.constant(element, &kind, Cow::Owned(text))? {
                    Some(value) => Ok(value),
                    None => Ok(AnnotationValue::Other(kind.into_owned())),
                }
            }
        }
    }

    /// The text of an element, nested elements skipped.
    fn text_content(&mut self, element: &Element<'a>) -> Result<String> {
        let mut text = String::new();
        if element.empty {
            return Ok(text);
        }
        let mut child = Element::new();
        // Every byte of text counts here: no white space is skipped until the end tag.
        self.reader.config_mut().trim_text_start = false;
        loop {
            match self.next_child(&element.name, element.offset, &mut child)? {
                Child::End => {
                    self.reader.config_mut().trim_text_start = true;
                    return Ok(text);
                }
                // The usual single piece becomes the string as it is, at its exact size.
                Child::Raw(t) if text.is_empty() => {
                    text = t.xml_content(XmlVersion::Implicit1_0).into_owned();
                }
                Child::Raw(t) => text.push_str(&t.xml_content(XmlVersion::Implicit1_0)),
                Child::Text(t) if text.is_empty() => text = t.into_owned(),
                Child::Text(t) => text.push_str(&t),
                Child::Element => self.skip(&child)?,
            }
        }
    }
}

/// The common part of entity and complex types.
struct Structured {
    name: String,
    is_abstract: bool,
    open_type: bool,
    key: Vec<String>,
    properties: Vec<Property>,
    navigation: Vec<NavigationProperty>,
    annotations: Vec<Annotation>,
}

/// A type as written: a shared `'static` string for the common `Edm.*` names.
fn type_name(written: &str) -> Cow<'static, str> {
    macro_rules! common {
        ($($n:literal)*) => {
            match written { $($n => Cow::Borrowed($n),)* _ => Cow::Owned(written.to_owned()) }
        };
    }
    common!(
        "Edm.Guid" "Edm.String" "Edm.Int32" "Edm.Boolean" "Edm.DateTimeOffset" "Edm.Decimal"
        "Edm.Int64" "Edm.Double" "Edm.Binary" "Edm.Date" "Edm.Int16" "Edm.Byte" "Edm.Single"
        "Edm.Duration" "Edm.TimeOfDay" "Edm.Stream" "Edm.SByte" "Edm.Untyped"
    )
}

/// `value` without surrounding white space, reusing its allocation when there is none.
fn trimmed(value: Cow<'_, str>) -> String {
    if value.trim().len() == value.len() {
        value.into_owned()
    } else {
        value.trim().to_owned()
    }
}

/// The items of `stack` from `at` on, moved into a list of their exact size (collecting a
/// `Drain` allocates exactly its length).
fn take_from<T>(stack: &mut Vec<T>, at: usize) -> Vec<T> {
    stack.drain(at..).collect()
}

/// Pushes onto a list that usually holds one item (a key, a referential constraint): the
/// first push allocates room for exactly one, not the four a `Vec` starts with.
pub(crate) fn push_small<T>(list: &mut Vec<T>, item: T) {
    if list.capacity() == 0 {
        list.reserve_exact(1);
    }
    list.push(item);
}

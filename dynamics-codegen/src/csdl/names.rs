//! The element and attribute names of CSDL, known at compile time: each name has a byte id
//! ([`Attr`]), found by a perfect-enough open-addressing hash table built in a `const`, so the
//! reader's hot path compares and allocates no names.

/// An attribute name CSDL defines, by its index in [`NAMES`]; written `attr!("Name")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Attr(pub(super) u8);

impl Attr {
    /// The attribute called `name`; a name CSDL does not define fails to compile.
    pub(super) const fn named(name: &str) -> Attr {
        let mut i = 0;
        while i < NAMES.len() {
            if const_eq(NAMES[i].as_bytes(), name.as_bytes()) {
                return Attr(i as u8);
            }
            i += 1;
        }
        panic!("not a CSDL name")
    }

    pub(super) fn name(self) -> &'static str {
        NAMES.get(usize::from(self.0)).copied().unwrap_or_default()
    }
}

const fn const_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The [`Attr`] of a CSDL attribute name, found at compile time.
macro_rules! attr {
    ($name:literal) => {
        const { $crate::csdl::names::Attr::named($name) }
    };
}
pub(super) use attr;

// Attribute ids are bytes (`Attr(u8)`).
const _: () = assert!(NAMES.len() <= u8::MAX as usize);

/// The element and attribute names of CSDL, so that the hot path allocates no names.
const NAMES: [&str; 84] = [
    "Edmx",
    "Reference",
    "Include",
    "IncludeAnnotations",
    "DataServices",
    "Schema",
    "EntityType",
    "ComplexType",
    "EnumType",
    "Member",
    "Key",
    "PropertyRef",
    "Property",
    "NavigationProperty",
    "ReferentialConstraint",
    "OnDelete",
    "Action",
    "Function",
    "Parameter",
    "ReturnType",
    "TypeDefinition",
    "Term",
    "EntityContainer",
    "EntitySet",
    "Singleton",
    "ActionImport",
    "FunctionImport",
    "NavigationPropertyBinding",
    "Annotations",
    "Annotation",
    "Collection",
    "Record",
    "PropertyValue",
    "String",
    "Bool",
    "Int",
    "Decimal",
    "Float",
    "Date",
    "DateTimeOffset",
    "Guid",
    "Duration",
    "TimeOfDay",
    "Binary",
    "EnumMember",
    "Path",
    "PropertyPath",
    "NavigationPropertyPath",
    "AnnotationPath",
    "ModelElementPath",
    "Null",
    "Name",
    "Namespace",
    "Alias",
    "Uri",
    "Type",
    "BaseType",
    "Abstract",
    "OpenType",
    "HasStream",
    "Nullable",
    "MaxLength",
    "Precision",
    "Scale",
    "SRID",
    "Unicode",
    "DefaultValue",
    "ConcurrencyMode",
    "Partner",
    "ContainsTarget",
    "ReferencedProperty",
    "UnderlyingType",
    "IsFlags",
    "Value",
    "IsBound",
    "IsComposable",
    "EntitySetPath",
    "AppliesTo",
    "BaseTerm",
    "Target",
    "Qualifier",
    "IncludeInServiceDocument",
    "TermNamespace",
    "Version",
];

/// Slots of the open-addressing table of [`NAMES`]: a power of two, under half full.
const NAME_SLOTS: usize = 512;

const fn name_hash(name: &[u8]) -> usize {
    let n = name.len();
    if n == 0 {
        return 0;
    }
    (n.wrapping_mul(113)
        ^ (name[0] as usize).wrapping_mul(31)
        ^ (name[n - 1] as usize) << 2
        ^ (name[n / 2] as usize).wrapping_mul(7))
        & (NAME_SLOTS - 1)
}

/// Index + 1 of each name in [`NAMES`], at its hash or the first free slot after it.
const NAME_TABLE: [u8; NAME_SLOTS] = {
    let mut table = [0u8; NAME_SLOTS];
    let mut i = 0;
    while i < NAMES.len() {
        let mut slot = name_hash(NAMES[i].as_bytes());
        while table[slot] != 0 {
            slot = (slot + 1) & (NAME_SLOTS - 1);
        }
        table[slot] = (i + 1) as u8;
        i += 1;
    }
    table
};

/// The CSDL name equal to `name`, as a `'static` string.
pub(super) fn known_name(name: &str) -> Option<&'static str> {
    known_attr(name.as_bytes()).map(Attr::name)
}

/// Whether two short names are equal, compared eight bytes at a time in line (a call to
/// `memcmp` costs more than the comparison for names this short).
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a, mut b) = (a, b);
    while let (Some((x, a_rest)), Some((y, b_rest))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        if u64::from_le_bytes(*x) != u64::from_le_bytes(*y) {
            return false;
        }
        (a, b) = (a_rest, b_rest);
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// The CSDL attribute named `name`.
#[inline]
pub(super) fn known_attr(name: &[u8]) -> Option<Attr> {
    let mut slot = name_hash(name);
    loop {
        let index = usize::from(*NAME_TABLE.get(slot)?).checked_sub(1)?;
        if same(NAMES.get(index)?.as_bytes(), name) {
            return Some(Attr(index as u8));
        }
        slot = (slot + 1) & (NAME_SLOTS - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_known() {
        for name in NAMES {
            assert_eq!(known_name(name), Some(name));
        }
        assert_eq!(known_name("Nam"), None);
        assert_eq!(known_name(""), None);
        assert_eq!(known_name("PropertyRefs"), None);
        for (i, name) in NAMES.iter().enumerate() {
            assert_eq!(known_attr(name.as_bytes()), Some(Attr(i as u8)));
            assert_eq!(Attr::named(name).name(), *name);
        }
        assert_eq!(known_attr(b"xmlns:edm"), None);
        assert!(
            NAMES.len() <= usize::from(u8::MAX),
            "attribute ids are bytes"
        );
    }
}

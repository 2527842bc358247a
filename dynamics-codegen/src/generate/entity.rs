//! One table: its record struct, typed columns, lookup setters and `Entity` implementation.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use quote::quote;

use super::ident::{self, Names};
use super::{Context, doc_lines};
use crate::csdl::{EntityType, Lookup, Primitive, Property, TypeRef};

/// What one table contributes.
pub(crate) struct GeneratedEntity {
    pub tokens: TokenStream,
    /// `(method name, (entity set, struct name))` for the `EntitySets` trait.
    pub entity_set: Option<(String, (String, String))>,
}

/// Associated items the generator adds to every record struct.
const RESERVED_FIELDS: &[&str] = &["etag", "__binds"];
const RESERVED_CONSTS: &[&str] = &["LOGICAL_NAME", "ENTITY_SET_NAME", "PRIMARY_KEY"];

/// A member of a record's JSON form.
struct Member {
    wire: String,
    field: proc_macro2::Ident,
    codec: Option<&'static str>,
    /// Whether the record writes it (lookup ids and the ETag are only read).
    written: bool,
}

/// One settable target of a lookup.
struct Target {
    variant: String,
    navigation_property: String,
    entity_set: String,
    logical_name: String,
}

impl Context<'_> {
    pub(crate) fn entity(&self, t: &EntityType, top: &mut Names) -> GeneratedEntity {
        let rt = &self.runtime;
        let struct_name = self
            .entity_names
            .get(&t.qualified_name())
            .cloned()
            .unwrap_or_else(|| ident::type_name(&t.name));
        let struct_ident = ident::ident(&struct_name);

        let mut fields = Names::reserving(RESERVED_FIELDS);
        let mut consts = Names::reserving(RESERVED_CONSTS);
        let mut field_tokens = TokenStream::new();
        let mut column_tokens = TokenStream::new();
        let mut setters = TokenStream::new();
        let mut lookup_enums = TokenStream::new();
        let mut key_field = None;
        let mut members = Vec::new();
        let files = file_columns(t);

        for p in &t.properties {
            if p.ty == TypeRef::Primitive(Primitive::Stream) {
                continue; // streams have no JSON form
            }
            let lookup = t.lookup(&p.name).filter(|l| l.property == p.name);
            let field = fields.unique(ident::field_name(
                lookup.map_or(p.name.as_str(), |l| l.name.as_str()),
            ));
            let field_ident = ident::ident(&field);
            let mut rust = self.rust_type(&p.ty);
            if let Some(choice) = self.choice_type(&t.name, &p.name) {
                rust.ty = choice;
                rust.codec = None;
            }
            let ty = &rust.ty;
            let wire = &p.name;
            let docs = doc_lines(&property_doc(&files, p, lookup));
            field_tokens.extend(quote! {
                #docs
                pub #field_ident: ::core::option::Option<#ty>,
            });
            members.push(Member {
                wire: wire.clone(),
                field: field_ident.clone(),
                codec: rust.codec,
                // Lookup ids are read-only: writes go through `@odata.bind` (the setters below).
                written: lookup.is_none(),
            });

            let column = ident::ident(&consts.unique(ident::const_name(&field)));
            let column_doc = super::Doc(format!(
                " The `{wire}` column, for `$select`, `$orderby` and filters."
            ));
            let constructor = match lookup.and_then(|l| l.targets.first()) {
                Some(target) => {
                    let nav = &target.navigation_property;
                    quote!(#rt::Column::lookup(#wire, #nav))
                }
                None => quote!(#rt::Column::new(#wire)),
            };
            column_tokens.extend(quote! {
                #[doc = #column_doc]
                pub const #column: #rt::Column<#struct_ident, #ty> = #constructor;
            });

            if t.primary_key() == Some(p.name.as_str())
                && p.ty == TypeRef::Primitive(Primitive::Guid)
            {
                key_field = Some(field_ident.clone());
            }
            if let Some(lookup) = lookup {
                let (setter, enumeration) = self.lookup_setter(&struct_name, &field, lookup, top);
                setters.extend(setter);
                lookup_enums.extend(enumeration);
            }
        }

        // Collection-valued navigation properties to tables also generated: typed handles for
        // `any`/`all` filters and collection `$expand`s, named after the property.
        for nav in t.navigation_properties.iter().filter(|n| n.collection) {
            let Some(target) = self.entity_names.get(&nav.target) else {
                continue;
            };
            let constant = ident::ident(&consts.unique(ident::const_name(&nav.name)));
            let target_ident = ident::ident(target);
            let name = &nav.name;
            let doc = super::Doc(format!(
                " The `{name}` collection of related [`{target}`] records, for `any`/`all` filters and `$expand`."
            ));
            column_tokens.extend(quote! {
                #[doc = #doc]
                pub const #constant: #rt::query::Related<#struct_ident, #target_ident> =
                    #rt::query::Related::new(#name);
            });
        }

        let has_binds = !setters.is_empty();
        let binds_field = has_binds.then(|| {
            quote! {
                /// Lookups set with the `set_*` methods, sent as `@odata.bind` on create and update.
                #[doc(hidden)]
                pub __binds: #rt::entity::Binds,
            }
        });

        members.push(Member {
            wire: "@odata.etag".to_owned(),
            field: ident::ident("etag"),
            codec: None,
            written: false,
        });
        let wire_form = self.wire_form(&struct_ident, &t.name, members);

        let docs = doc_lines(&entity_doc(t));
        let mut tokens = quote! {
            #docs
            #[derive(::core::clone::Clone, ::core::fmt::Debug, ::core::default::Default, ::core::cmp::PartialEq)]
            #[allow(dead_code)]
            pub struct #struct_ident {
                #field_tokens
                /// The record's version (`@odata.etag`), for optimistic concurrency.
                pub etag: ::core::option::Option<::std::string::String>,
                #binds_field
            }

            #wire_form

            #[allow(dead_code)]
            impl #struct_ident {
                #column_tokens
                #setters
            }

            #lookup_enums
        };

        let mut entity_set = None;
        if let (Some(set), Some(key_field), Some(key)) = (&t.entity_set, key_field, t.primary_key())
        {
            let logical = &t.name;
            let binds = has_binds.then(|| {
                quote! {
                    fn binds(&self) -> ::core::option::Option<&#rt::entity::Binds> {
                        ::core::option::Option::Some(&self.__binds)
                    }
                }
            });
            let bulk = self.bulk_messages(t);
            let bulk = (!bulk.is_empty()).then(|| {
                let flags = bulk.iter().map(|m| {
                    let flag = ident::ident(m);
                    quote!(#rt::bulk::BulkMessages::#flag)
                });
                let first = flags.clone().take(1);
                let rest = flags.skip(1);
                quote! {
                    const BULK_MESSAGES: #rt::bulk::BulkMessages = #(#first)* #(.and(#rest))*;
                }
            });
            tokens.extend(quote! {
                impl #rt::Entity for #struct_ident {
                    const LOGICAL_NAME: &'static str = #logical;
                    const ENTITY_SET_NAME: &'static str = #set;
                    const PRIMARY_KEY: &'static str = #key;
                    fn id(&self) -> ::core::option::Option<#rt::__private::uuid::Uuid> {
                        self.#key_field
                    }
                    fn etag(&self) -> ::core::option::Option<&str> {
                        self.etag.as_deref()
                    }
                    #binds
                    #bulk
                }
            });
            entity_set = Some((ident::field_name(set), (set.clone(), struct_name.clone())));
        }
        GeneratedEntity { tokens, entity_set }
    }

    /// The bulk operation messages the metadata binds to the entity set of `t`
    /// ([`Metadata::bulk_messages`](crate::csdl::Metadata::bulk_messages)), as the flag names
    /// of `BulkMessages`.
    fn bulk_messages(&self, t: &EntityType) -> Vec<&'static str> {
        self.metadata
            .bulk_messages(t)
            .into_iter()
            .filter_map(|name| match name {
                "CreateMultiple" => Some("CREATE"),
                "UpdateMultiple" => Some("UPDATE"),
                "UpsertMultiple" => Some("UPSERT"),
                "DeleteMultiple" => Some("DELETE"),
                _ => None,
            })
            .collect()
    }

    /// The record's `Serialize` and `Deserialize`: a sorted table of wire names and one line
    /// per member, over the runtime's shared reader and writer (`__private::record`), which
    /// compile in a fraction of the time serde's derives take for wide tables.
    fn wire_form(
        &self,
        struct_ident: &proc_macro2::Ident,
        logical_name: &str,
        mut members: Vec<Member>,
    ) -> TokenStream {
        let rt = &self.runtime;
        let record = quote!(#rt::__private::record);
        let codec = |name: &str| {
            let module = ident::ident(name);
            quote!(#rt::__private::codec::#module::Form)
        };
        let writes: Vec<TokenStream> = members
            .iter()
            .filter(|m| m.written)
            .map(|m| {
                let (wire, field) = (&m.wire, &m.field);
                match m.codec {
                    Some(name) => {
                        let form = codec(name);
                        quote!(w.coded::<#form>(#wire, &self.#field)?;)
                    }
                    None => quote!(w.field(#wire, &self.#field)?;),
                }
            })
            .collect();
        // A table whose every column is a lookup writes nothing but the braces.
        let writer = if writes.is_empty() {
            quote!(w)
        } else {
            quote!(mut w)
        };
        // Written in the document's column order; read by number in the runtime's search order
        // (`record::by_length`: shorter names first, then bytewise).
        members.sort_by(|a, b| {
            a.wire
                .len()
                .cmp(&b.wire.len())
                .then_with(|| a.wire.cmp(&b.wire))
        });
        let names = members.iter().map(|m| &m.wire);
        let reads = members.iter().enumerate().map(|(number, m)| {
            let number = proc_macro2::Literal::usize_unsuffixed(number);
            let field = &m.field;
            match m.codec {
                Some(name) => {
                    let form = codec(name);
                    quote!(#number => self.#field = #record::read_coded::<#form, A>(map)?,)
                }
                None => quote!(#number => self.#field = map.next_value()?,),
            }
        });
        let expecting = format!("a `{logical_name}` record");
        quote! {
            impl #record::Fields for #struct_ident {
                const FIELDS: &'static [&'static str] = &[#(#names),*];
                const EXPECTING: &'static str = #expecting;
                fn read<'de, A: #rt::__private::serde::de::MapAccess<'de>>(
                    &mut self,
                    field: usize,
                    map: &mut A,
                ) -> ::core::result::Result<(), A::Error> {
                    match field {
                        #(#reads)*
                        _ => {
                            map.next_value::<#rt::__private::serde::de::IgnoredAny>()?;
                        }
                    }
                    ::core::result::Result::Ok(())
                }
            }

            impl<'de> #rt::__private::serde::Deserialize<'de> for #struct_ident {
                fn deserialize<D: #rt::__private::serde::Deserializer<'de>>(
                    deserializer: D,
                ) -> ::core::result::Result<Self, D::Error> {
                    #record::deserialize(deserializer)
                }
            }

            impl #rt::__private::serde::Serialize for #struct_ident {
                fn serialize<S: #rt::__private::serde::Serializer>(
                    &self,
                    serializer: S,
                ) -> ::core::result::Result<S::Ok, S::Error> {
                    let #writer = #record::writer(serializer)?;
                    #(#writes)*
                    w.end()
                }
            }
        }
    }

    /// The setter of a lookup, and the enum of its targets when there are several.
    fn lookup_setter(
        &self,
        struct_name: &str,
        field: &str,
        lookup: &Lookup,
        top: &mut Names,
    ) -> (TokenStream, TokenStream) {
        let rt = &self.runtime;
        let targets = self.settable_targets(lookup);
        let setter = ident::ident(&format!("set_{field}"));
        match targets.as_slice() {
            [] => (TokenStream::new(), TokenStream::new()),
            [one] => {
                let nav = &one.navigation_property;
                let set = &one.entity_set;
                let doc = super::Doc(format!(
                    " Sets the `{}` lookup to a `{}` record: sends `\"{nav}@odata.bind\": \"/{set}(<id>)\"`.",
                    lookup.name, one.logical_name
                ));
                let setter_tokens = quote! {
                    #[doc = #doc]
                    pub fn #setter(&mut self, id: #rt::__private::uuid::Uuid) -> &mut Self {
                        self.__binds.set(#rt::entity::Bind::new(#nav, #set, id));
                        self
                    }
                };
                (setter_tokens, TokenStream::new())
            }
            many => {
                let enum_name =
                    top.unique(format!("{struct_name}{}", ident::type_name(&lookup.name)));
                let enum_ident = ident::ident(&enum_name);
                let mut variants = Names::camel_reserving(&[]);
                let mut variant_tokens = TokenStream::new();
                let mut arms = TokenStream::new();
                for target in many {
                    let variant = ident::ident(&variants.unique(target.variant.clone()));
                    let nav = &target.navigation_property;
                    let set = &target.entity_set;
                    let doc = super::Doc(format!(" A `{}` record (`{nav}`).", target.logical_name));
                    variant_tokens.extend(quote! {
                        #[doc = #doc]
                        #variant(#rt::__private::uuid::Uuid),
                    });
                    arms.extend(quote! {
                        #enum_ident::#variant(id) => #rt::entity::Bind::new(#nav, #set, id),
                    });
                }
                let enum_doc = super::Doc(format!(
                    " The tables the `{}` lookup of [`{struct_name}`] can point at.",
                    lookup.name
                ));
                let setter_doc = super::Doc(format!(
                    " Sets the `{}` lookup: sends `\"<navigation property>@odata.bind\": \"/<set>(<id>)\"` for the target's table.",
                    lookup.name
                ));
                let enumeration = quote! {
                    #[doc = #enum_doc]
                    #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::cmp::PartialEq, ::core::cmp::Eq, ::core::hash::Hash)]
                    #[allow(dead_code)]
                    pub enum #enum_ident {
                        #variant_tokens
                    }

                    impl ::core::convert::From<#enum_ident> for #rt::entity::Bind {
                        fn from(target: #enum_ident) -> Self {
                            match target {
                                #arms
                            }
                        }
                    }
                };
                // A new target replaces the old one, whichever table it was in.
                let mut navs: Vec<&str> = many
                    .iter()
                    .map(|t| t.navigation_property.as_str())
                    .collect();
                navs.dedup();
                let setter_tokens = quote! {
                    #[doc = #setter_doc]
                    pub fn #setter(&mut self, target: #enum_ident) -> &mut Self {
                        self.__binds.unset(&[#(#navs),*]);
                        self.__binds.set(::core::convert::From::from(target));
                        self
                    }
                };
                (setter_tokens, enumeration)
            }
        }
    }

    /// Targets with an entity set. A target without one (the abstract `principal` of owner
    /// lookups) stands for the tables deriving from it that have one (`systemuser`, `team`).
    fn settable_targets(&self, lookup: &Lookup) -> Vec<Target> {
        let mut out: Vec<Target> = Vec::new();
        for target in &lookup.targets {
            let tables: Vec<&EntityType> = match &target.entity_set {
                Some(_) => self
                    .metadata
                    .entity_type(&target.entity_type)
                    .into_iter()
                    .collect(),
                None => self
                    .metadata
                    .entity_types()
                    .iter()
                    .filter(|t| {
                        t.entity_set.is_some()
                            && self
                                .metadata
                                .derives_from(&t.qualified_name(), &target.entity_type)
                    })
                    .collect(),
            };
            for table in tables {
                let Some(set) = &table.entity_set else {
                    continue;
                };
                if out.iter().any(|t| &t.entity_set == set) {
                    continue;
                }
                out.push(Target {
                    variant: ident::type_name(&table.name),
                    navigation_property: target.navigation_property.clone(),
                    entity_set: set.clone(),
                    logical_name: table.name.clone(),
                });
            }
        }
        out
    }
}

fn entity_doc(t: &EntityType) -> Vec<String> {
    let mut lines = vec![match t.description() {
        Some(d) => d.to_owned(),
        None => format!("A record of the `{}` table.", t.name),
    }];
    lines.push(String::new());
    match (&t.entity_set, t.primary_key()) {
        (Some(set), Some(key)) => lines.push(format!(
            "Logical name `{}`, entity set `{set}`, primary key `{key}`.",
            t.name
        )),
        _ => lines.push(format!(
            "Logical name `{}`; no entity set of its own, so it is read through other tables.",
            t.name
        )),
    }
    lines
}

fn property_doc(files: &HashSet<&str>, p: &Property, lookup: Option<&Lookup>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(d) = p.description() {
        lines.push(d.to_owned());
        lines.push(String::new());
    }
    if files.contains(p.name.as_str()) {
        lines.push(
            "File column: the record holds the file's id. The file itself goes up and down with \
             `upload_file` and `download_file` of the entity set, and `delete_file` removes it."
                .to_owned(),
        );
        lines.push(String::new());
    } else if let Some(file) = p
        .name
        .strip_suffix("_name")
        .filter(|base| files.contains(base))
    {
        lines.push(format!("The name of the file in `{file}`."));
        lines.push(String::new());
    }
    match lookup {
        Some(l) => {
            let targets: Vec<&str> = l.targets.iter().map(|t| t.logical_name.as_str()).collect();
            lines.push(format!(
                "Lookup `{}` (`{}`) to {}: the id of the record it points at. Read-only here: set it with `set_{}`.",
                l.name,
                p.name,
                targets.join(", "),
                ident::field_name(&l.name)
            ));
        }
        None => lines.push(format!("`{}`: `{}`.", p.name, p.type_name)),
    }
    lines
}

/// The file columns of `t`: each `Edm.Guid` (or, in older documents, `Edm.Binary`) property
/// `X` with an `Edm.String` property `X_name` beside it, as Dataverse declares them.
fn file_columns(t: &EntityType) -> HashSet<&str> {
    // The `X` of every string property `X_name`.
    let named: HashSet<&str> = t
        .properties
        .iter()
        .filter(|p| p.ty == TypeRef::Primitive(Primitive::String))
        .filter_map(|p| p.name.strip_suffix("_name"))
        .collect();
    t.properties
        .iter()
        .filter(|p| {
            matches!(
                p.ty,
                TypeRef::Primitive(Primitive::Guid | Primitive::Binary)
            )
        })
        .map(|p| p.name.as_str())
        .filter(|name| named.contains(name))
        .collect()
}

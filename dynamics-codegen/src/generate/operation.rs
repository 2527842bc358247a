//! Actions and functions: one request struct per operation, implementing the runtime's
//! `Operation` trait, in a module of their own (`operations`).
//!
//! Which operations: those bound to a selected table (or to its entity set), and the unbound
//! ones whose `ActionImport`/`FunctionImport` name is in the selection (`WhoAmI`). The
//! request's fields are the parameters after the binding one; its answer is `()`, a primitive,
//! a generated complex type, a generated table (or JSON for a table not generated) or a `Vec`
//! of these. Calling goes through `Client::execute`, `execute_bound` or `execute_bound_to_set`.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::quote;

use super::Context;
use super::ident::{self, Names};
use crate::csdl::{
    EntityType, Metadata, Operation, OperationKind, Parameter, Primitive, ReturnType, Selection,
    TypeRef,
};
use crate::error::{Error, Result};

/// What an operation is bound to.
#[derive(Clone, Copy)]
pub(crate) enum Binding<'m> {
    Unbound,
    /// One record of this table.
    Record(&'m EntityType),
    /// The entity set of this table.
    Set(&'m EntityType),
}

/// One operation to generate.
pub(crate) struct Planned<'m> {
    pub operation: &'m Operation,
    pub binding: Binding<'m>,
    /// The name in the URL: the import's name when unbound, the qualified name when bound.
    pub url_name: String,
    /// The request struct's name inside `operations`.
    pub struct_name: String,
}

/// The names of a selection sorted into tables and unbound operations.
pub(crate) struct Split<'m> {
    /// Table names (and `"*"`), for [`Metadata::select`].
    pub tables: Vec<String>,
    /// Unbound operations named, by qualified operation name → import name.
    unbound: HashMap<String, &'m str>,
}

/// Sorts the names of a selection: `"*"` and table names (logical or qualified, matched
/// exactly) are tables; an `ActionImport`/`FunctionImport` name (matched exactly, as URLs
/// spell it) is an unbound operation. A bound operation's name says to select its tables; any
/// other name is an unknown table, with the closest table and operation names suggested.
pub(crate) fn split<'m, S: AsRef<str>>(metadata: &'m Metadata, names: &[S]) -> Result<Split<'m>> {
    let imports = metadata
        .container()
        .map_or(&[][..], |c| c.operation_imports.as_slice());
    let mut split = Split {
        tables: Vec::new(),
        unbound: HashMap::new(),
    };
    for name in names {
        let name = name.as_ref();
        if name == "*" || metadata.entity_type(name).is_some() {
            split.tables.push(name.to_owned());
        } else if let Some(import) = imports.iter().find(|i| i.name == name) {
            split
                .unbound
                .insert(import.operation.clone(), import.name.as_str());
        } else {
            return Err(unknown(metadata, name));
        }
    }
    Ok(split)
}

fn unknown(metadata: &Metadata, name: &str) -> Error {
    let mut bound_to: Vec<&str> = Vec::new();
    for operation in metadata.operations_named(name) {
        if let Some(TypeRef::Entity(q)) = operation.binding_type().map(TypeRef::element)
            && let Some(t) = metadata.entity_type(q)
            && !bound_to.contains(&t.name.as_str())
        {
            bound_to.push(&t.name);
        }
    }
    if !bound_to.is_empty() {
        return Error::Settings(format!(
            "`{name}` is an operation bound to {}: select {} and it is generated with {}",
            quoted(&bound_to),
            if bound_to.len() == 1 {
                "that table"
            } else {
                "those tables"
            },
            if bound_to.len() == 1 { "it" } else { "them" },
        ));
    }
    let imports = metadata
        .container()
        .map_or(&[][..], |c| c.operation_imports.as_slice());
    Error::UnknownEntity {
        name: name.to_owned(),
        suggestions: crate::csdl::suggest::closest(
            name,
            metadata
                .entity_types()
                .iter()
                .map(|t| t.name.as_str())
                .chain(imports.iter().map(|i| i.name.as_str())),
            metadata
                .entity_types()
                .iter()
                .filter_map(|t| Some((t.entity_set.as_deref()?, t.name.as_str()))),
        ),
    }
}

fn quoted(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

/// Whether the generated struct of `t` implements `Entity` (an entity set and a single GUID
/// key), which a bound call needs for its URL.
fn addressable(t: &EntityType) -> bool {
    t.entity_set.is_some()
        && t.primary_key()
            .and_then(|k| t.property(k))
            .is_some_and(|p| p.ty == TypeRef::Primitive(Primitive::Guid))
}

/// The operations to generate, in the document's order: the unbound ones named and those bound
/// to an addressable selected table or its entity set. Overloaded names (the same name bound
/// to several tables) get the binding table's name appended, whatever the selection, so a
/// name does not change when another table is selected.
pub(crate) fn plan<'m>(
    metadata: &'m Metadata,
    split: &Split<'m>,
    selection: &Selection<'m>,
) -> Vec<Planned<'m>> {
    let tables: HashMap<String, &'m EntityType> = selection
        .entity_types
        .iter()
        .filter(|t| addressable(t))
        .map(|t| (t.qualified_name(), *t))
        .collect();
    let mut planned = Vec::new();
    for operation in metadata.operations() {
        let (binding, url_name) = match operation.binding_type() {
            None => match split.unbound.get(&operation.qualified_name()) {
                Some(import) => (Binding::Unbound, (*import).to_owned()),
                None => continue,
            },
            Some(ty) => {
                let TypeRef::Entity(q) = ty.element() else {
                    continue;
                };
                let Some(table) = tables.get(q) else { continue };
                let binding = if ty.is_collection() {
                    Binding::Set(table)
                } else {
                    Binding::Record(table)
                };
                (binding, operation.qualified_name())
            }
        };
        // Unbound overloads (by parameters) share one import: the first one is generated.
        if matches!(binding, Binding::Unbound)
            && planned.iter().any(|p: &Planned<'_>| p.url_name == url_name)
        {
            continue;
        }
        let mut struct_name = ident::type_name(&operation.name);
        if let Binding::Record(t) | Binding::Set(t) = binding
            && metadata.operations_named(&operation.name).nth(1).is_some()
        {
            struct_name.push_str(&ident::type_name(&t.name));
        }
        planned.push(Planned {
            operation,
            binding,
            url_name,
            struct_name,
        });
    }
    let mut names = Names::camel_reserving(&[]);
    for p in &mut planned {
        p.struct_name = names.unique(std::mem::take(&mut p.struct_name));
    }
    planned
}

/// Adds to the selection the complex, enum and definition types that the operations'
/// parameters and answers need, directly or through complex types.
pub(crate) fn extend_selection<'m>(
    metadata: &'m Metadata,
    selection: &mut Selection<'m>,
    planned: &[Planned<'m>],
) {
    let types = planned.iter().flat_map(|p| {
        let skip = usize::from(p.operation.is_bound);
        p.operation.parameters[skip..]
            .iter()
            .map(|p| &p.ty)
            .chain(p.operation.return_type.as_ref().map(|r| &r.ty))
    });
    metadata.add_needed_types(selection, types);
}

/// How a function passes one parameter (`FunctionParameters::with*`).
enum Pass {
    /// A literal of a `Copy` type, passed by value.
    Copy,
    /// A literal passed by reference (text).
    Literal,
    Binary,
    Enum(String),
    Json,
}

fn pass(metadata: &Metadata, ty: &TypeRef) -> Pass {
    let primitive = match ty {
        TypeRef::Primitive(p) => *p,
        TypeRef::Definition(name) => match metadata.type_definition(name) {
            Some(d) => d.underlying_type,
            None => return Pass::Json,
        },
        TypeRef::Enum(name) => return Pass::Enum(name.clone()),
        _ => return Pass::Json,
    };
    use Primitive::*;
    match primitive {
        String => Pass::Literal,
        Guid | Boolean | Byte | SByte | Int16 | Int32 | Int64 | Single | Double | Decimal
        | DateTimeOffset | Date => Pass::Copy,
        Binary => Pass::Binary,
        _ => Pass::Json,
    }
}

impl Context<'_> {
    /// The `operations` module, when there are operations to generate.
    pub(crate) fn operations_module(&self) -> TokenStream {
        if self.operations.is_empty() {
            return TokenStream::new();
        }
        let mut items = TokenStream::new();
        for planned in &self.operations {
            items.extend(self.operation(planned));
        }
        let mut imports = Vec::new();
        if self.has_complex_module() {
            imports.push(quote!(complex_types));
        }
        if self.has_enum_module() {
            imports.push(quote!(enum_types));
        }
        let imports = (!imports.is_empty()).then(|| {
            quote! {
                #[allow(unused_imports)]
                use super::{#(#imports),*};
            }
        });
        quote! {
            /// Typed actions and functions: one request per operation, its fields the
            /// parameters, run with `client.execute`, `execute_bound` or
            /// `execute_bound_to_set` as its binding says.
            #[allow(dead_code)]
            pub mod operations {
                #imports
                #items
            }
        }
    }

    fn operation(&self, planned: &Planned<'_>) -> TokenStream {
        let rt = &self.runtime;
        let serde_crate = &self.serde_crate;
        let operation = planned.operation;
        let action = operation.kind == OperationKind::Action;
        let name = ident::ident(&planned.struct_name);
        let url_name = &planned.url_name;
        let parameters = &operation.parameters[usize::from(operation.is_bound)..];

        let mut fields = Names::reserving(&[]);
        let mut field_tokens = TokenStream::new();
        let mut passes = TokenStream::new();
        let mut all_optional = true;
        for p in parameters {
            let field = fields.unique(ident::field_name(&p.name));
            let field_ident = ident::ident(&field);
            let optional = p.facets.nullable || p.is_optional();
            all_optional &= optional;
            let rust = self.rust_type(&p.ty);
            let ty = &rust.ty;
            let ty = if optional {
                quote!(::core::option::Option<#ty>)
            } else {
                ty.clone()
            };
            let serde = action.then(|| self.parameter_serde(p, &field, rust.codec, optional));
            let doc = super::Doc(format!(
                " `{}`: `{}`{}.",
                p.name,
                p.type_name,
                if optional { " (optional)" } else { "" }
            ));
            field_tokens.extend(quote! {
                #[doc = #doc]
                #serde
                pub #field_ident: #ty,
            });
            if !action {
                passes.extend(self.pass_parameter(p, &field_ident, optional));
            }
        }

        let (response, in_value) = self.response(operation.return_type.as_ref());
        let in_value = in_value.then(|| {
            quote!(
                const RESPONSE_IN_VALUE: bool = true;
            )
        });
        let binding = match planned.binding {
            Binding::Unbound => quote!(#rt::operations::Unbound),
            Binding::Record(t) => {
                let table = self.entity_ident(t);
                quote!(#rt::operations::Bound<super::#table>)
            }
            Binding::Set(t) => {
                let table = self.entity_ident(t);
                quote!(#rt::operations::BoundToSet<super::#table>)
            }
        };
        let call = if action {
            quote!(#rt::operations::Call::action(self))
        } else if passes.is_empty() {
            quote!(::core::result::Result::Ok(#rt::operations::Call::function(#rt::operations::FunctionParameters::new())))
        } else {
            quote! {
                let mut p = #rt::operations::FunctionParameters::new();
                #passes
                ::core::result::Result::Ok(#rt::operations::Call::function(p))
            }
        };

        let default = all_optional.then(|| quote!(::core::default::Default,));
        let serialize = action.then(|| quote!(#rt::__private::serde::Serialize,));
        let serde_attribute = action.then(|| quote!(#[serde(crate = #serde_crate)]));
        let body = if field_tokens.is_empty() {
            quote!(;)
        } else {
            quote!({ #field_tokens })
        };
        let docs = super::doc_lines(&operation_doc(planned));
        quote! {
            #docs
            #[derive(::core::clone::Clone, ::core::fmt::Debug, #default ::core::cmp::PartialEq, #serialize)]
            #serde_attribute
            pub struct #name #body

            impl #rt::operations::Operation for #name {
                const NAME: &'static str = #url_name;
                type Binding = #binding;
                type Response = #response;
                #in_value
                fn call(&self) -> #rt::Result<#rt::operations::Call> {
                    #call
                }
            }
        }
    }

    /// An action parameter's `#[serde(...)]`: the wire name, and the codec of its type.
    fn parameter_serde(
        &self,
        p: &Parameter,
        field: &str,
        codec: Option<&str>,
        optional: bool,
    ) -> TokenStream {
        let wire = &p.name;
        let mut parts = Vec::new();
        if field != wire {
            parts.push(quote!(rename = #wire));
        }
        if optional {
            parts.push(quote!(
                skip_serializing_if = "::core::option::Option::is_none"
            ));
        }
        if let Some(codec) = codec {
            let path = if optional {
                format!(
                    "{}::__private::codec::{codec}::serialize",
                    self.runtime_path
                )
            } else {
                format!("{}::__private::required_codec::{codec}", self.runtime_path)
            };
            parts.push(quote!(serialize_with = #path));
        }
        if parts.is_empty() {
            return TokenStream::new();
        }
        quote!(#[serde(#(#parts),*)])
    }

    /// A function parameter added to `p`, the function's `FunctionParameters`.
    fn pass_parameter(
        &self,
        p: &Parameter,
        field: &proc_macro2::Ident,
        optional: bool,
    ) -> TokenStream {
        let wire = &p.name;
        let pass = pass(self.metadata, &p.ty);
        let value = match (optional, &pass) {
            (true, _) => quote!(v),
            (false, Pass::Copy) => quote!(self.#field),
            (false, _) => quote!(&self.#field),
        };
        let add = match pass {
            Pass::Copy | Pass::Literal => quote!(p = p.with(#wire, #value)?;),
            Pass::Binary => quote!(p = p.with_binary(#wire, #value)?;),
            Pass::Json => quote!(p = p.with_json(#wire, #value)?;),
            Pass::Enum(enum_type) => quote!(p = p.with_enum(#wire, #enum_type, #value)?;),
        };
        if optional {
            quote! {
                if let ::core::option::Option::Some(v) = &self.#field {
                    #add
                }
            }
        } else {
            add
        }
    }

    /// The answer's type, and whether it travels under `value`.
    fn response(&self, returns: Option<&ReturnType>) -> (TokenStream, bool) {
        let Some(returns) = returns else {
            return (quote!(()), false);
        };
        match &returns.ty {
            TypeRef::Collection(inner) => {
                let element = self.answer_type(inner);
                (quote!(::std::vec::Vec<#element>), true)
            }
            ty => {
                let answer = self.answer_type(ty);
                let answer = if returns.facets.nullable {
                    quote!(::core::option::Option<#answer>)
                } else {
                    answer
                };
                let in_value = !matches!(ty, TypeRef::Complex(_) | TypeRef::Entity(_));
                (answer, in_value)
            }
        }
    }

    /// One answer value: a generated table for an entity type, JSON where a table is not
    /// generated or the wire form needs a codec, else the parameter type.
    fn answer_type(&self, ty: &TypeRef) -> TokenStream {
        let rt = &self.runtime;
        if let TypeRef::Entity(q) = ty
            && let Some(name) = self.entity_names.get(q)
        {
            let name = ident::ident(name);
            return quote!(super::#name);
        }
        let rust = self.rust_type(ty);
        if rust.codec.is_some() {
            quote!(#rt::__private::serde_json::Value)
        } else {
            rust.ty
        }
    }

    fn entity_ident(&self, t: &EntityType) -> proc_macro2::Ident {
        let name = self
            .entity_names
            .get(&t.qualified_name())
            .cloned()
            .unwrap_or_else(|| ident::type_name(&t.name));
        ident::ident(&name)
    }
}

/// The request struct's doc: what it calls, how, and what it answers.
fn operation_doc(planned: &Planned<'_>) -> Vec<String> {
    let operation = planned.operation;
    let (kind, method, suffix) = match operation.kind {
        OperationKind::Action => ("action", "POST", ""),
        OperationKind::Function => ("function", "GET", "(...)"),
    };
    let name = &operation.name;
    let url = &planned.url_name;
    let call = match planned.binding {
        Binding::Unbound => format!(
            "The `{name}` {kind}: `{method} {url}{suffix}`, run with `client.execute(&request)`."
        ),
        Binding::Record(t) => format!(
            "The `{name}` {kind} bound to a `{}` record: `{method} {}(<id>)/{url}{suffix}`, run with `client.execute_bound(id, &request)`.",
            t.name,
            t.entity_set.as_deref().unwrap_or_default()
        ),
        Binding::Set(t) => format!(
            "The `{name}` {kind} bound to the `{}` entity set: `{method} {0}/{url}{suffix}`, run with `client.execute_bound_to_set(&request)`.",
            t.entity_set.as_deref().unwrap_or_default()
        ),
    };
    let answer = match &operation.return_type {
        Some(r) => format!("Answers `{}`.", r.type_name),
        None => "Answers nothing (`204 No Content`).".to_owned(),
    };
    vec![call, String::new(), answer]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const XML: &str = r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>
      <Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">
        <EntityType Name="systemuser"><Key><PropertyRef Name="systemuserid"/></Key><Property Name="systemuserid" Type="Edm.Guid"/></EntityType>
        <EntityType Name="team"><Key><PropertyRef Name="teamid"/></Key><Property Name="teamid" Type="Edm.Guid"/></EntityType>
        <Function Name="Access" IsBound="true"><Parameter Name="entity" Type="mscrm.systemuser"/><ReturnType Type="Edm.Int32"/></Function>
        <Function Name="Access" IsBound="true"><Parameter Name="entity" Type="mscrm.team"/><ReturnType Type="Edm.Int32"/></Function>
        <Action Name="Ping"/>
        <EntityContainer Name="System">
          <EntitySet Name="systemusers" EntityType="mscrm.systemuser"/>
          <EntitySet Name="teams" EntityType="mscrm.team"/>
          <ActionImport Name="Ping" Action="Microsoft.Dynamics.CRM.Ping"/>
        </EntityContainer>
      </Schema></edmx:DataServices></edmx:Edmx>"#;

    fn planned(names: &[&str]) -> Result<BTreeSet<String>> {
        let metadata = Metadata::parse(XML)?;
        let split = split(&metadata, names)?;
        let selection = metadata.select(&split.tables)?;
        let planned = plan(&metadata, &split, &selection);
        Ok(planned.iter().map(|p| p.struct_name.clone()).collect())
    }

    #[test]
    fn overloads_are_named_by_table_whatever_is_selected() {
        assert_eq!(
            planned(&["systemuser"]).unwrap(),
            BTreeSet::from(["AccessSystemuser".to_owned()])
        );
        assert_eq!(
            planned(&["*", "Ping"]).unwrap(),
            BTreeSet::from([
                "AccessSystemuser".to_owned(),
                "AccessTeam".to_owned(),
                "Ping".to_owned()
            ])
        );
        assert!(
            planned(&["*"]).unwrap().len() == 2,
            "unbound ones only by name"
        );
    }

    #[test]
    fn unknown_and_bound_names_are_explained() {
        match planned(&["Pong"]) {
            Err(Error::UnknownEntity { suggestions, .. }) => assert_eq!(suggestions, ["Ping"]),
            other => panic!("{other:?}"),
        }
        let e = planned(&["Access"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`Access` is an operation bound to `systemuser`, `team`: select those tables and it is generated with them"
        );
    }
}

//! The macro's arguments, `metadata = "..", entities = [..], runtime = ..`, and its expansion.

use std::path::{Path, PathBuf};

use dynamics_codegen::{Error as CodegenError, Generator, GeneratorSettings};
use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Token, bracketed};

/// One table named in `entities = [...]`: an identifier, or `*`.
enum Table {
    Name(Ident),
    All,
}

struct Args {
    metadata: LitStr,
    choices: Option<LitStr>,
    entities: Vec<Table>,
    /// The `entities` key, for errors about an empty or missing list.
    entities_key: Option<Ident>,
    runtime: Option<syn::Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut metadata = None;
        let mut choices = None;
        let mut entities = None;
        let mut runtime = None;
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "metadata" if metadata.is_none() => metadata = Some(input.parse::<LitStr>()?),
                "entities" if entities.is_none() => {
                    let content;
                    bracketed!(content in input);
                    let list =
                        Punctuated::<Table, Token![,]>::parse_terminated_with(&content, |input| {
                            if input.peek(Token![*]) {
                                input.parse::<Token![*]>().map(|_| Table::All)
                            } else {
                                input.parse().map(Table::Name)
                            }
                        })?;
                    entities = Some((key.clone(), list.into_iter().collect::<Vec<_>>()));
                }
                "runtime" if runtime.is_none() => runtime = Some(input.parse::<syn::Path>()?),
                "choices" if choices.is_none() => choices = Some(input.parse::<LitStr>()?),
                "metadata" | "entities" | "runtime" | "choices" => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("`{key}` is given twice"),
                    ));
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown key `{key}`: expected `metadata`, `entities` or `runtime`"
                        ),
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        let metadata = metadata.ok_or_else(|| {
            input.error("missing `metadata = \"path/to/metadata.xml\"` (relative to Cargo.toml)")
        })?;
        let (entities_key, entities) = match entities {
            Some((key, list)) => (Some(key), list),
            None => (None, Vec::new()),
        };
        Ok(Args {
            metadata,
            choices,
            entities,
            entities_key,
            runtime,
        })
    }
}

/// The metadata path, resolved against the crate being compiled.
fn resolve_path(literal: &LitStr) -> syn::Result<PathBuf> {
    let written = literal.value();
    let path = Path::new(&written);
    if path.is_absolute() {
        return Err(syn::Error::new(
            literal.span(),
            "the metadata path must be relative to the crate's Cargo.toml, not absolute, so that \
             the build does not depend on where the checkout lives",
        ));
    }
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").ok_or_else(|| {
        syn::Error::new(
            literal.span(),
            "CARGO_MANIFEST_DIR is not set: build with Cargo",
        )
    })?;
    Ok(PathBuf::from(manifest_dir).join(path))
}

pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let args: Args = syn::parse2(input)?;
    if args.entities.is_empty() {
        let message = "name the tables to generate: `entities = [account, contact]` (or `[*]`)";
        return Err(match &args.entities_key {
            Some(key) => syn::Error::new(key.span(), message),
            None => syn::Error::new(args.metadata.span(), message),
        });
    }
    // The names asked for, as the document spells them (`r#type` → `type`).
    let names: Vec<String> = args
        .entities
        .iter()
        .map(|table| match table {
            Table::All => "*".to_owned(),
            Table::Name(ident) => {
                let name = ident.to_string();
                name.strip_prefix("r#").unwrap_or(&name).to_owned()
            }
        })
        .collect();
    let path = resolve_path(&args.metadata)?;
    let metadata = crate::cache::load(&path, &names).map_err(|e| {
        // Name the file as the user wrote it: absolute paths differ between machines.
        let written = args.metadata.value();
        let message = match &e {
            CodegenError::Io { source, .. } => {
                format!("cannot read metadata file `{written}` (relative to Cargo.toml): {source}")
            }
            other => other
                .to_string()
                .replace(path.to_string_lossy().as_ref(), &written),
        };
        syn::Error::new(args.metadata.span(), message)
    })?;

    // Unknown names are reported at their own span, all of them at once, by the generator's
    // own rule (tables, and unbound operations by their import name).
    let mut errors: Option<syn::Error> = None;
    for (table, name) in args.entities.iter().zip(&names) {
        if let Table::Name(ident) = table
            && let Err(e) = Generator::check_selected_name(&metadata, name)
        {
            let error = syn::Error::new(ident.span(), e.to_string());
            match &mut errors {
                Some(all) => all.combine(error),
                None => errors = Some(error),
            }
        }
    }
    if let Some(errors) = errors {
        return Err(errors);
    }

    let mut settings = GeneratorSettings::new();
    settings.with_entities(names);
    let mut tracked_choices = None;
    if let Some(literal) = &args.choices {
        let path = resolve_path(literal)?;
        let choices = crate::cache::load_choices(&path).map_err(|e| {
            let written = literal.value();
            let message = match &e {
                CodegenError::Io { source, .. } => format!(
                    "cannot read choices file `{written}` (relative to Cargo.toml): {source}"
                ),
                other => other
                    .to_string()
                    .replace(path.to_string_lossy().as_ref(), &written),
            };
            syn::Error::new(literal.span(), message)
        })?;
        settings.with_choices(choices);
        tracked_choices = Some(path.to_string_lossy().into_owned());
    }
    if let Some(runtime) = &args.runtime {
        settings.with_runtime_path(quote!(#runtime).to_string().replace(' ', ""));
    }
    let generated = Generator::new(&settings)
        .generate_tokens(&metadata)
        .map_err(|e| match e {
            CodegenError::Settings(message) => syn::Error::new(args.metadata.span(), message),
            other => syn::Error::new(args.metadata.span(), other.to_string()),
        })?;
    // Rebuild when the metadata changes: Cargo tracks files that `include_bytes!` reads. Inside
    // a function nothing calls, the bytes are never evaluated as a constant, which the
    // compiler would otherwise do for the whole document (not measured on its own).
    let tracked = path.to_string_lossy().into_owned();
    let tracked_choices = tracked_choices.map(|c| quote!(let _ = ::core::include_bytes!(#c);));
    Ok(quote! {
        const _: () = {
            #[allow(dead_code)]
            fn track_input_files() {
                let _ = ::core::include_bytes!(#tracked);
                #tracked_choices
            }
        };
        #generated
    })
}

//! The floor that generated code is measured against: for the same tables, plain
//! `#[derive(Serialize, Deserialize)]` structs with the same `Option` fields and nothing else.
//! Used by `tools/check-time.sh`.
//!
//! `cargo run -p dynamics-codegen --example serde_floor -- METADATA TABLES|* > floor.rs`

use std::fmt::Write as _;
use std::process::ExitCode;

use dynamics_codegen::csdl::{Metadata, Primitive, TypeRef};

fn rust_type(ty: &TypeRef) -> &'static str {
    match ty {
        TypeRef::Primitive(p) => match p {
            Primitive::Guid => "::dynamics_client::__private::uuid::Uuid",
            Primitive::String | Primitive::Duration | Primitive::TimeOfDay => "String",
            Primitive::Boolean => "bool",
            Primitive::Int16 => "i16",
            Primitive::Int32 => "i32",
            Primitive::Int64 => "i64",
            Primitive::Byte => "u8",
            Primitive::SByte => "i8",
            Primitive::Single => "f32",
            Primitive::Double => "f64",
            Primitive::Decimal => "::dynamics_client::__private::rust_decimal::Decimal",
            Primitive::DateTimeOffset => "::dynamics_client::__private::time::OffsetDateTime",
            Primitive::Date => "::dynamics_client::__private::time::Date",
            Primitive::Binary => "Vec<u8>",
            _ => "::dynamics_client::__private::serde_json::Value",
        },
        TypeRef::Collection(_) => "Vec<::dynamics_client::__private::serde_json::Value>",
        _ => "::dynamics_client::__private::serde_json::Value",
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, tables] = args.as_slice() else {
        eprintln!("usage: serde_floor METADATA TABLES|*");
        return ExitCode::FAILURE;
    };
    let metadata = match Metadata::from_path(path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let names: Vec<&str> = tables.split(',').collect();
    let selection = match metadata.select(&names) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = String::from("#![allow(non_camel_case_types, non_snake_case, dead_code)]\n");
    out.push_str("use ::dynamics_client::__private::serde::{Deserialize, Serialize};\n");
    for (i, t) in selection.entity_types.iter().enumerate() {
        let _ = writeln!(
            out,
            "#[derive(Serialize, Deserialize)]\n#[serde(crate = \"::dynamics_client::__private::serde\")]\npub struct T{i} {{"
        );
        for (j, p) in t.properties.iter().enumerate() {
            let _ = writeln!(
                out,
                "    #[serde(rename = {:?})]\n    pub f{j}: Option<{}>,",
                p.name,
                rust_type(&p.ty)
            );
        }
        out.push_str("}\n");
    }
    print!("{out}");
    ExitCode::SUCCESS
}

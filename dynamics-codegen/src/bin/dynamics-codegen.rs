//! `dynamics-codegen`: the generator as a command, for teams that check generated code in.
//!
//! ```text
//! dynamics-codegen --metadata FILE --entities account,contact [--runtime PATH] [-o FILE]
//! ```

use std::process::ExitCode;

use dynamics_codegen::Builder;

const USAGE: &str = "\
usage: dynamics-codegen --metadata FILE --entities NAME[,NAME...] [--choices FILE] [--language CODE] [--runtime PATH] [-o FILE]

Generates typed Rust for the named tables of a Dataverse $metadata document.
  --metadata FILE     the $metadata document (CSDL XML)
  --entities LIST     tables by logical name, comma-separated; * for every table
  --choices FILE      a choices document: choice columns become enums
  --language CODE     language of the labels choice variants are named after (default 1033)
  --runtime PATH      path of the runtime crate in generated code (default ::dynamics_client)
  -o, --output FILE   where to write (default: standard output)";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut builder = Builder::new().emit_rerun_if_changed(false);
    let mut output = None;
    let mut has_metadata = false;
    let mut has_entities = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--metadata" => {
                builder = builder.metadata(value("--metadata")?);
                has_metadata = true;
            }
            "--entities" => {
                let list = value("--entities")?;
                let names: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect();
                builder = builder.entities(names);
                has_entities = true;
            }
            "--runtime" => builder = builder.runtime_path(value("--runtime")?),
            "--choices" => builder = builder.choices(value("--choices")?),
            "--language" => {
                let code = value("--language")?;
                let code = code.parse().map_err(|_| {
                    format!("--language takes a language code such as 1033, not `{code}`")
                })?;
                builder = builder.language(code);
            }
            "-o" | "--output" => output = Some(value("--output")?),
            other => return Err(format!("unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    if !has_metadata || !has_entities {
        return Err(format!("--metadata and --entities are required\n\n{USAGE}"));
    }
    let code = builder.generate_string().map_err(|e| e.to_string())?;
    match output {
        Some(path) => std::fs::write(&path, code).map_err(|e| format!("cannot write {path}: {e}")),
        None => {
            print!("{code}");
            Ok(())
        }
    }
}

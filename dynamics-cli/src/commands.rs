//! What each command does, apart from the connection commands.

use std::path::Path;

use dynamics_client::{Secret, connection::ConnectionStore};
use serde_json::json;

use crate::certificate::{self, NewCertificate};
use crate::cli::{CertCommand, Command, MetadataCommand};
use crate::error::{CliError, Result};
use crate::output;
use crate::settings::Settings;
use crate::{connections, environments, session};

pub(crate) fn open_store() -> Result<ConnectionStore> {
    Ok(ConnectionStore::open_default()?)
}

pub(crate) async fn run(command: Command) -> Result<()> {
    let settings = Settings::from_env();
    match command {
        Command::Login { tenant } => {
            let store = open_store()?;
            let session = session::login(&store, &settings, tenant.as_deref()).await?;
            println!(
                "Signed in as {} (tenant {}). Tokens are cached in {}, encrypted with the key from {}.",
                output::clean(&session.user),
                output::clean(&session.tenant_id),
                store.path().display(),
                store.key_source()
            );
            Ok(())
        }
        Command::Logout => {
            let store = open_store()?;
            let was = store.update(|c| Ok::<_, CliError>(c.session.take()))?;
            match was {
                Some(s) => println!("Signed out {}.", output::clean(&s.user)),
                None => println!("Nobody was signed in."),
            }
            Ok(())
        }
        Command::Environments { json } => {
            let store = open_store()?;
            let list = environments::list(&store, &settings).await?;
            if json {
                output::json(&json!(list));
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|e| {
                        vec![
                            e.friendly_name.clone(),
                            e.unique_name.clone(),
                            e.url.clone(),
                            e.region.clone(),
                            e.version.clone(),
                            e.state.clone(),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "FRIENDLY NAME",
                        "UNIQUE NAME",
                        "URL",
                        "REGION",
                        "VERSION",
                        "STATE",
                    ],
                    &rows,
                );
            }
            Ok(())
        }
        Command::Metadata {
            command:
                MetadataCommand::Pull {
                    environment,
                    output,
                    choices,
                },
        } => {
            let store = open_store()?;
            let url = environments::resolve(&store, &settings, environment.environment.as_deref())
                .await?;
            let metadata = pull_metadata(&store, &url, &output).await?;
            if let Some(path) = choices {
                let dataverse = crate::dataverse::Dataverse::new(
                    &url,
                    session::token_for(&store, &url).await?,
                )?;
                let tables = crate::choices::tables(&metadata);
                let document = crate::choices::pull(&dataverse, &tables).await?;
                let text = serde_json::to_string_pretty(&document).unwrap_or_default();
                write_atomic(&path, text.as_bytes())?;
                eprintln!("Wrote {}", path.display());
            }
            Ok(())
        }
        Command::Codegen {
            metadata,
            entities,
            choices,
            output,
        } => {
            let mut builder = dynamics_codegen::Builder::new()
                .metadata(&metadata)
                .entities(entities.iter().map(String::as_str));
            if let Some(choices) = choices {
                builder = builder.choices(choices);
            }
            let code = builder.generate_string()?;
            match output {
                Some(path) => {
                    write_atomic(&path, code.as_bytes())?;
                    eprintln!("Wrote {}", path.display());
                }
                None => print!("{code}"),
            }
            Ok(())
        }
        Command::Cert {
            command:
                CertCommand::New {
                    subject,
                    days,
                    bits,
                    out,
                    password_env,
                    force,
                },
        } => new_certificate(&subject, days, bits, &out, password_env.as_deref(), force),
        Command::Connection { command } => connections::run(command, &settings).await,
        Command::Data { command } => crate::data::run(command).await,
    }
}

/// Downloads `$metadata` with the signed-in user's token, through `dynamics-client` (its
/// retries, throttling and transport rules), and writes it atomically. Reading stops at the
/// size the parser takes (`DYNAMICS_METADATA_MAX_BYTES`).
async fn pull_metadata(
    store: &ConnectionStore,
    environment: &str,
    path: &Path,
) -> Result<dynamics_codegen::csdl::Metadata> {
    let token = session::token_for(store, environment).await?;
    let limit = dynamics_codegen::csdl::max_document_bytes();
    let dataverse = crate::dataverse::Dataverse::with_limit(environment, token, limit)?;
    output::progress(&format!("Downloading {}", dataverse.metadata_url()));
    let text = dataverse.metadata_document().await?;
    // Refuse to write something that is not CSDL, so a bad reply never replaces a good file.
    let parsed = dynamics_codegen::csdl::Metadata::parse(&text)?;
    write_atomic(path, text.as_bytes())?;
    eprintln!("Wrote {} ({} bytes)", path.display(), text.len());
    Ok(parsed)
}

/// Writes through an exclusively created temporary file in the same directory, then renames
/// (see `dynamics_fs`); a symbolic link at `path` is refused.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    certificate::write_file(path, bytes)
}

fn new_certificate(
    subject: &str,
    days: u32,
    bits: u32,
    out: &Path,
    password_env: Option<&str>,
    force: bool,
) -> Result<()> {
    let name: String = subject
        .strip_prefix("CN=")
        .unwrap_or(subject)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        return Err(CliError::Usage("the subject needs a name".into()));
    }
    certificate::check_parameters(days, bits)?;
    let password = match password_env {
        Some(var) => Some(
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .map(Secret::new)
                .ok_or_else(|| {
                    CliError::Usage(format!("the environment variable {var} is not set"))
                })?,
        ),
        None => None,
    };
    let written = certificate::Written {
        pem: out.join(format!("{name}.pem")),
        cer: out.join(format!("{name}.cer")),
        pfx: out.join(format!("{name}.pfx")),
        password_file: password
            .is_none()
            .then(|| out.join(format!("{name}.pfx.password"))),
    };
    // Every refusal comes before the first file is written, so none is left half-way.
    let private = [Some(&written.pfx), written.password_file.as_ref()];
    for path in [&written.pem, &written.cer]
        .into_iter()
        .chain(private.into_iter().flatten())
    {
        dynamics_fs::refuse_symlink(path)?;
    }
    if !force {
        for path in private.into_iter().flatten() {
            if path.symlink_metadata().is_ok() {
                return Err(CliError::Usage(format!(
                    "{} already exists; pass --force to replace the private key",
                    path.display()
                )));
            }
        }
    }
    std::fs::create_dir_all(out).map_err(CliError::io("create directory", out))?;
    output::progress(&format!("Generating an RSA-{bits} key and certificate"));
    let cert = NewCertificate::generate(subject, days, bits)?;
    let password = match (password, &written.password_file) {
        (Some(password), _) => password,
        (None, path) => {
            let password = certificate::random_password()?;
            if let Some(path) = path {
                certificate::write_secret(path, password.expose().as_bytes(), force)?;
            }
            password
        }
    };
    certificate::write_secret(&written.pfx, &cert.pkcs12(&name, &password)?, force)?;
    certificate::write_file(&written.pem, cert.cert_pem()?.as_bytes())?;
    certificate::write_file(&written.cer, &cert.cert_der()?)?;
    println!("Certificate (PEM):  {}", written.pem.display());
    println!("Certificate (DER):  {}", written.cer.display());
    println!("Private key (PFX):  {}", written.pfx.display());
    match &written.password_file {
        Some(path) => println!("PFX password in:    {} (mode 0600)", path.display()),
        None => println!("PFX password:       from ${}", password_env.unwrap_or("")),
    }
    println!("SHA-1 thumbprint:   {}", cert.thumbprint());
    println!("Valid until:        {}", cert.not_after());
    Ok(())
}

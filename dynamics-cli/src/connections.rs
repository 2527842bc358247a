//! `dynamics connection ...`: create (admin), request and complete (no admin), list, show,
//! test, edit, rotate-cert, delete.

use std::time::Duration;

use dynamics_client::connection::{Connection, ConnectionStore, UserSession, connection_client};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::certificate::NewCertificate;
use crate::cli::ConnectionCommand;
use crate::commands::open_store;
use crate::dataverse::Dataverse;
use crate::error::{CliError, Result};
use crate::graph::Graph;
use crate::output::{self, step};
use crate::settings::Settings;
use crate::{environments, request, session};

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "`{name}` is not a connection name: use 1 to 64 letters, digits, `-`, `_` or `.`"
        )))
    }
}

fn save(store: &ConnectionStore, connection: Connection, replace: bool) -> Result<()> {
    store.update(|contents| {
        if !replace && contents.connections.contains_key(&connection.name) {
            return Err(CliError::Usage(format!(
                "a connection named `{}` already exists",
                connection.name
            )));
        }
        contents
            .connections
            .insert(connection.name.clone(), connection);
        Ok(())
    })
}

fn new_connection(
    name: &str,
    environment_url: &str,
    tenant_id: &str,
    authority_host: &str,
    cert: &NewCertificate,
    created_by: &str,
) -> Result<Connection> {
    let mut connection = Connection::new(
        name,
        environment_url,
        tenant_id,
        authority_host,
        cert.cert_pem()?,
        cert.key_pem()?,
        cert.thumbprint(),
    );
    connection.created_by = created_by.to_owned();
    connection.created_at = now_rfc3339();
    Ok(connection)
}

/// The signed-in session, which must belong to the connection's tenant: one tenant's sign-in
/// never changes another tenant's registrations.
fn session_for(store: &ConnectionStore, connection: &Connection) -> Result<UserSession> {
    let session = session::current(store)?;
    if !connection.tenant_id.is_empty()
        && !session
            .tenant_id
            .eq_ignore_ascii_case(&connection.tenant_id)
    {
        return Err(CliError::Refused(format!(
            "you are signed in to tenant {} but connection `{}` belongs to tenant {}; sign in there with `dynamics login --tenant {}`",
            session.tenant_id, connection.name, connection.tenant_id, connection.tenant_id
        )));
    }
    Ok(session)
}

pub(crate) async fn run(command: ConnectionCommand, settings: &Settings) -> Result<()> {
    let store = open_store()?;
    match command {
        ConnectionCommand::Create {
            name,
            environment,
            role,
            display_name,
        } => {
            check_name(&name)?;
            if store.load()?.connections.contains_key(&name) {
                return Err(CliError::Usage(format!(
                    "a connection named `{name}` already exists"
                )));
            }
            let session = session::current(&store)?;
            let environment_url =
                environments::resolve(&store, settings, environment.environment.as_deref()).await?;
            let display_name = display_name.unwrap_or_else(|| format!("dynamics-{name}"));
            step(1, 6, "Creating a certificate (RSA-2048)");
            let cert = NewCertificate::generate(&display_name, 365, 2048)?;
            step(
                2,
                6,
                &format!("Registering the application `{display_name}` in Microsoft Entra ID"),
            );
            // The role is checked first, so a typo costs no app registration.
            let dataverse = Dataverse::new(
                &environment_url,
                session::token_for(&store, &environment_url).await?,
            )?;
            let business_unit = dataverse.root_business_unit().await?;
            let role_id = dataverse.role_id(&role, &business_unit).await?;
            let graph = Graph::new(
                &settings.graph_url,
                session::token_for(&store, &settings.graph_url).await?,
            )?;
            let app = graph
                .create_application(&display_name, &cert.cert_base64()?)
                .await?;
            let finished = async {
                step(
                    3,
                    6,
                    &format!("Creating the service principal of {}", app.app_id),
                );
                graph.create_service_principal(&app.app_id).await?;
                step(
                    4,
                    6,
                    &format!("Creating the Dataverse application user with the role `{role}`"),
                );
                let user_id = dataverse
                    .application_user(&app.app_id, &business_unit)
                    .await?;
                dataverse.associate_role(&user_id, &role_id).await
            }
            .await;
            if let Err(error) = finished {
                // Leave nothing half made behind: the registration goes if the rest failed.
                output::progress(&format!(
                    "Removing the app registration {} again",
                    app.app_id
                ));
                if let Err(cleanup) = graph.delete(&app.id).await {
                    output::progress(&format!(
                        "could not remove it ({cleanup}); delete app {} by hand",
                        app.app_id
                    ));
                }
                return Err(error);
            }
            step(5, 6, &format!("Saving connection `{name}` (encrypted)"));
            let mut connection = new_connection(
                &name,
                &environment_url,
                &session.tenant_id,
                &session.authority_host,
                &cert,
                &session.user,
            )?;
            connection.client_id = Some(app.app_id.clone());
            connection.role = Some(role);
            connection.application_object_id = Some(app.id.clone());
            save(&store, connection, false)?;
            step(6, 6, "Testing: token with the certificate, then WhoAmI");
            let who = test(&store, &name).await?;
            println!(
                "Connection `{name}` is ready: client id {}, application user {}.",
                output::clean(&app.app_id),
                output::clean(&who)
            );
            println!(
                "Apps use it with Client::from_connection(\"{name}\") or DYNAMICS_CONNECTION={name}."
            );
            Ok(())
        }
        ConnectionCommand::Request {
            name,
            environment,
            admin_email,
            role,
            out,
        } => {
            check_name(&name)?;
            check_email(&admin_email)?;
            if store.load()?.connections.contains_key(&name) {
                return Err(CliError::Usage(format!(
                    "a connection named `{name}` already exists"
                )));
            }
            let session = store.load()?.session;
            let environment_url =
                environments::resolve(&store, settings, environment.environment.as_deref()).await?;
            let display_name = format!("dynamics-{name}");
            step(
                1,
                3,
                "Creating a certificate (RSA-2048); its private key stays here",
            );
            let cert = NewCertificate::generate(&display_name, 365, 2048)?;
            step(2, 3, "Writing the request package");
            let requester = session.as_ref().map(|s| s.user.as_str());
            let package = request::write(
                &request::Request {
                    name: &name,
                    display_name: &display_name,
                    environment_url: &environment_url,
                    admin_email: &admin_email,
                    requester,
                    role: &role,
                },
                &cert,
                &out,
            )?;
            step(
                3,
                3,
                &format!("Saving pending connection `{name}` (encrypted)"),
            );
            let mut connection = new_connection(
                &name,
                &environment_url,
                session.as_ref().map(|s| s.tenant_id.as_str()).unwrap_or(""),
                &settings.authority_host,
                &cert,
                requester.unwrap_or("unknown"),
            )?;
            connection.role = Some(role);
            save(&store, connection, false)?;
            println!("Request package: {}", package.dir.display());
            println!("  certificate: {}", package.cer.display());
            println!("  steps:       {}", package.markdown.display());
            println!(
                "  e-mail:      {} (to {admin_email})",
                package.eml.display()
            );
            println!("When the administrator replies, run:");
            println!(
                "  dynamics connection complete {name} --tenant-id <TENANT_ID> --client-id <CLIENT_ID>"
            );
            Ok(())
        }
        ConnectionCommand::Complete {
            name,
            tenant_id,
            client_id,
        } => {
            // A client id is always a GUID; a tenant may also be given by its domain.
            if uuid::Uuid::parse_str(&client_id).is_err() {
                return Err(CliError::Usage(format!(
                    "`{client_id}` is not a client id (a GUID)"
                )));
            }
            let tenant_ok = !tenant_id.is_empty()
                && tenant_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !tenant_ok {
                return Err(CliError::Usage(format!(
                    "`{tenant_id}` is not a tenant id or domain"
                )));
            }
            store.update(|contents| {
                let connection = contents
                    .connections
                    .get_mut(&name)
                    .ok_or_else(|| CliError::NotFound(format!("no connection named `{name}`")))?;
                connection.tenant_id = tenant_id.clone();
                connection.client_id = Some(client_id.clone());
                connection.authority_host = settings.authority_host.clone();
                Ok::<_, CliError>(())
            })?;
            output::progress("Testing: token with the certificate, then WhoAmI");
            let who = test(&store, &name).await?;
            println!(
                "Connection `{name}` is ready: application user {}.",
                output::clean(&who)
            );
            Ok(())
        }
        ConnectionCommand::List { json } => {
            let contents = store.load()?;
            if json {
                let list: Vec<Value> = contents.connections.values().map(summary).collect();
                output::json(&json!(list));
            } else {
                eprintln!(
                    "Store {} (key from {})",
                    store.path().display(),
                    store.key_source()
                );
                let rows: Vec<Vec<String>> = contents
                    .connections
                    .values()
                    .map(|c| {
                        vec![
                            c.name.clone(),
                            c.environment_url.clone(),
                            c.client_id.clone().unwrap_or_else(|| "-".into()),
                            status(c).into(),
                            c.created_by.clone(),
                        ]
                    })
                    .collect();
                output::table(
                    &["NAME", "ENVIRONMENT", "CLIENT ID", "STATUS", "CREATED BY"],
                    &rows,
                );
            }
            Ok(())
        }
        ConnectionCommand::Show { name, json } => {
            let connection = store.connection(&name)?;
            let value = summary(&connection);
            if json {
                output::json(&value);
            } else if let Some(map) = value.as_object() {
                for (key, value) in map {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        Value::Null => "-".into(),
                        other => other.to_string(),
                    };
                    println!("{key:<22} {}", output::clean(&text));
                }
            }
            Ok(())
        }
        ConnectionCommand::Test { name } => {
            let who = test(&store, &name).await?;
            println!(
                "Connection `{name}` works: WhoAmI says UserId {}.",
                output::clean(&who)
            );
            Ok(())
        }
        ConnectionCommand::Edit {
            name,
            display_name,
            role,
        } => {
            if display_name.is_none() && role.is_none() {
                return Err(CliError::Usage(
                    "nothing to change: give --display-name and/or --role".into(),
                ));
            }
            let connection = store.connection(&name)?;
            let session = session_for(&store, &connection)?;
            let app_id = connection.client_id.clone().ok_or_else(|| {
                CliError::Usage(format!("connection `{name}` is not complete yet"))
            })?;
            if let Some(display_name) = &display_name {
                output::progress(&format!(
                    "Renaming the app registration as {}",
                    session.user
                ));
                let graph = Graph::new(
                    &settings.graph_url,
                    session::token_for(&store, &settings.graph_url).await?,
                )?;
                let app = graph.application(&app_id).await?;
                graph.rename(&app.id, display_name).await?;
            }
            if let Some(role) = &role {
                output::progress(&format!(
                    "Giving the application user the role `{role}` as {}",
                    session.user
                ));
                let dataverse = Dataverse::new(
                    &connection.environment_url,
                    session::token_for(&store, &connection.environment_url).await?,
                )?;
                let business_unit = dataverse.root_business_unit().await?;
                let user_id = dataverse.application_user(&app_id, &business_unit).await?;
                dataverse
                    .assign_role(&user_id, role, &business_unit)
                    .await?;
                store.update(|contents| {
                    if let Some(c) = contents.connections.get_mut(&name) {
                        c.role = Some(role.clone());
                    }
                    Ok::<_, CliError>(())
                })?;
            }
            println!("Connection `{name}` updated.");
            Ok(())
        }
        ConnectionCommand::RotateCert { name, days } => rotate(&store, settings, &name, days).await,
        ConnectionCommand::Delete { name, unregister } => {
            let connection = store.connection(&name)?;
            if unregister {
                let session = session_for(&store, &connection)?;
                let app_id = connection.client_id.clone().ok_or_else(|| {
                    CliError::Usage(format!(
                        "connection `{name}` has no app registration to delete"
                    ))
                })?;
                output::progress(&format!(
                    "Deleting the app registration {app_id} as {}",
                    session.user
                ));
                let graph = Graph::new(
                    &settings.graph_url,
                    session::token_for(&store, &settings.graph_url).await?,
                )?;
                let app = graph.application(&app_id).await?;
                graph.delete(&app.id).await?;
            }
            store.update(|contents| {
                contents.connections.remove(&name);
                Ok::<_, CliError>(())
            })?;
            println!("Connection `{name}` deleted.");
            Ok(())
        }
    }
}

fn check_email(address: &str) -> Result<()> {
    let ok = address.contains('@')
        && !address.starts_with('@')
        && !address.ends_with('@')
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',');
    if ok {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "`{address}` is not an e-mail address"
        )))
    }
}

fn status(connection: &Connection) -> &'static str {
    match (&connection.client_id, &connection.last_tested_at) {
        (None, _) => "pending",
        (Some(_), Some(_)) => "ready",
        (Some(_), None) => "untested",
    }
}

/// What `list --json` and `show` print: never the key.
fn summary(connection: &Connection) -> Value {
    json!({
        "name": connection.name,
        "environment_url": connection.environment_url,
        "tenant_id": connection.tenant_id,
        "client_id": connection.client_id,
        "status": status(connection),
        "role": connection.role,
        "thumbprint": connection.thumbprint,
        "authority_host": connection.authority_host,
        "created_by": connection.created_by,
        "created_at": connection.created_at,
        "last_tested_at": connection.last_tested_at,
    })
}

#[derive(Deserialize)]
struct WhoAmI {
    #[serde(rename = "UserId")]
    user_id: String,
}

/// Gets a token with the connection's certificate and calls `WhoAmI()`, retrying for a short
/// while (a new registration takes a moment to reach every Entra and Dataverse node); records
/// the success.
async fn test(store: &ConnectionStore, name: &str) -> Result<String> {
    let connection = store.connection(name)?;
    let client = connection_client(&connection)?;
    let mut attempt = 0;
    let who = loop {
        attempt += 1;
        match client.get::<WhoAmI>("WhoAmI()").await {
            Ok(who) => break who,
            Err(e) if attempt < 3 && matches!(e.status(), Some(400 | 401 | 403)) => {
                output::progress(&format!("not yet ({e}); trying again"));
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    store.update(|contents| {
        if let Some(c) = contents.connections.get_mut(name) {
            c.last_tested_at = Some(now_rfc3339());
        }
        Ok::<_, CliError>(())
    })?;
    Ok(who.user_id)
}

/// Adds a new certificate beside the old one, proves it works, then removes the old one.
async fn rotate(store: &ConnectionStore, settings: &Settings, name: &str, days: u32) -> Result<()> {
    let connection = store.connection(name)?;
    let session = session_for(store, &connection)?;
    let app_id = connection
        .client_id
        .clone()
        .ok_or_else(|| CliError::Usage(format!("connection `{name}` is not complete yet")))?;
    let display_name = format!("dynamics-{name}");
    step(1, 5, "Creating the new certificate");
    let cert = NewCertificate::generate(&display_name, days, 2048)?;
    step(
        2,
        5,
        &format!("Adding it to the app registration as {}", session.user),
    );
    let graph = Graph::new(
        &settings.graph_url,
        session::token_for(store, &settings.graph_url).await?,
    )?;
    let app = graph.application(&app_id).await?;
    let old = openssl::x509::X509::from_pem(connection.certificate_pem.as_bytes())?;
    let old_base64 =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, old.to_der()?);
    let new_base64 = cert.cert_base64()?;
    graph
        .set_certificates(
            &app.id,
            &[
                (old_base64, display_name.clone()),
                (new_base64.clone(), display_name.clone()),
            ],
        )
        .await?;
    step(3, 5, "Saving the new certificate (encrypted)");
    let (pem, key, thumbprint) = (cert.cert_pem()?, cert.key_pem()?, cert.thumbprint());
    store.update(|contents| {
        let c = contents
            .connections
            .get_mut(name)
            .ok_or_else(|| CliError::NotFound(format!("no connection named `{name}`")))?;
        c.certificate_pem = pem;
        c.private_key_pem = key;
        c.thumbprint = thumbprint;
        Ok::<_, CliError>(())
    })?;
    step(4, 5, "Testing the new certificate");
    test(store, name).await?;
    step(
        5,
        5,
        "Removing the old certificate from the app registration",
    );
    graph
        .set_certificates(&app.id, &[(new_base64, display_name)])
        .await?;
    println!(
        "Connection `{name}` now uses certificate {}.",
        cert.thumbprint()
    );
    Ok(())
}

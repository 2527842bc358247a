//! `dynamics-emulator`: runs the emulator until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use dynamics_emulator::{
    Certificate, DuplicateRule, Emulator, FederatedCredential, ManagedIdentity, ServerCost,
    ServiceProtection,
};

/// A local Dataverse Web API, Entra ID token endpoint and Global Discovery, driven by $metadata.
#[derive(Parser, Debug)]
#[command(name = "dynamics-emulator", version, about)]
struct Args {
    /// The CSDL $metadata document to serve.
    #[arg(long, value_name = "FILE")]
    metadata: PathBuf,
    /// Port on 127.0.0.1; 0 or none picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Tenant id in the token endpoint path.
    #[arg(long, value_name = "TENANT_ID")]
    tenant: Option<String>,
    /// Registers an app and the PEM certificate its client assertions are signed with.
    #[arg(long = "app", value_name = "CLIENT_ID=CERT_PEM_PATH", value_parser = parse_app)]
    apps: Vec<(String, PathBuf)>,
    /// Gives the host a system-assigned managed identity with this client id, served at
    /// {base}/msi/token (App Service style) and {base}/metadata/identity/oauth2/token (IMDS style).
    #[arg(long, value_name = "CLIENT_ID")]
    system_identity: Option<String>,
    /// Gives the host a user-assigned managed identity (object id random).
    #[arg(long = "user-identity", value_name = "CLIENT_ID=RESOURCE_ID", value_parser = parse_user_identity)]
    user_identities: Vec<(String, String)>,
    /// The secret the App Service style endpoint expects in X-IDENTITY-HEADER (give the same
    /// value to the app as IDENTITY_HEADER); random, and so unusable, if unset.
    #[arg(long, value_name = "SECRET")]
    identity_header: Option<String>,
    /// Lets an app exchange an external issuer's tokens for access tokens: tokens from ISSUER
    /// about SUBJECT for api://AzureADTokenExchange, signed by the key of the PEM certificate.
    #[arg(long = "federated", value_name = "CLIENT_ID,ISSUER,SUBJECT,ISSUER_CERT_PEM", value_parser = parse_federated)]
    federated: Vec<(String, String, String, PathBuf)>,
    /// Lifetime of issued access tokens.
    #[arg(long, value_name = "SECONDS")]
    token_lifetime: Option<u64>,
    /// JSON file of records to load: {"<entity set>": [ {record}, ... ], ...}.
    #[arg(long, value_name = "FILE.json")]
    seed: Option<PathBuf>,
    /// Choices document (option sets as the metadata API returns them) to validate and label
    /// choice columns with.
    #[arg(long, value_name = "FILE")]
    choices: Option<PathBuf>,
    /// Turns Dataverse's service protection limits on, per identity: 6,000 requests and 1,200 s
    /// of execution time per 300 s sliding window, 52 concurrent requests.
    #[arg(long)]
    service_protection: bool,
    /// Turns service protection on with these limits instead.
    #[arg(
        long,
        value_name = "REQUESTS:EXECUTION_SECONDS:WINDOW_SECONDS:CONCURRENT",
        value_parser = ServiceProtection::from_str
    )]
    service_protection_limits: Option<ServiceProtection>,
    /// Simulated execution time of each request, each record a single request writes and each
    /// record of a bulk message; without it requests cost nothing.
    #[arg(
        long,
        value_name = "PER_REQUEST_MS:PER_RECORD_MS:PER_BULK_RECORD_MS",
        value_parser = ServerCost::from_str
    )]
    server_cost: Option<ServerCost>,
    /// Divides every service protection window, cost and wait by N (Retry-After stays in whole
    /// seconds, rounded up).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    time_scale: Option<u32>,
    /// Duplicate detection rules, applied to writes sent with
    /// `MSCRM.SuppressDuplicateDetection: false`: a JSON array of
    /// {"table": "<logical name>", "columns": ["<column>", ...]}.
    #[arg(long, value_name = "FILE.json")]
    duplicate_rules: Option<PathBuf>,
}

fn parse_app(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((id, path)) if !id.is_empty() && !path.is_empty() => {
            Ok((id.to_owned(), PathBuf::from(path)))
        }
        _ => Err("expected CLIENT_ID=CERT_PEM_PATH".to_owned()),
    }
}

fn parse_user_identity(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((id, resource)) if !id.is_empty() && !resource.is_empty() => {
            Ok((id.to_owned(), resource.to_owned()))
        }
        _ => Err("expected CLIENT_ID=RESOURCE_ID".to_owned()),
    }
}

fn parse_federated(text: &str) -> Result<(String, String, String, PathBuf), String> {
    match text.splitn(4, ',').collect::<Vec<_>>()[..] {
        [id, issuer, subject, pem] if [id, issuer, subject, pem].iter().all(|p| !p.is_empty()) => {
            Ok((id.into(), issuer.into(), subject.into(), PathBuf::from(pem)))
        }
        _ => Err("expected CLIENT_ID,ISSUER,SUBJECT,ISSUER_CERT_PEM".to_owned()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dynamics-emulator: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut builder = Emulator::builder()
        .metadata_file(&args.metadata)
        .port(args.port);
    if let Some(path) = &args.choices {
        builder = builder.choices_file(path);
    }
    if let Some(tenant) = args.tenant {
        builder = builder.tenant(tenant);
    }
    for (client_id, path) in &args.apps {
        let pem = std::fs::read(path)
            .map_err(|e| format!("--app {client_id}: cannot read {}: {e}", path.display()))?;
        let certificate =
            Certificate::from_pem(&pem).map_err(|e| format!("--app {client_id}: {e}"))?;
        builder = builder.register_app(client_id.clone(), certificate);
    }
    if let Some(client_id) = args.system_identity {
        builder = builder.managed_identity(ManagedIdentity::system_assigned(client_id));
    }
    for (client_id, resource_id) in args.user_identities {
        builder = builder.managed_identity(ManagedIdentity::user_assigned(client_id, resource_id));
    }
    if let Some(header) = args.identity_header {
        builder = builder.identity_header(header);
    }
    for (client_id, issuer, subject, path) in args.federated {
        let pem = std::fs::read(&path).map_err(|e| {
            format!(
                "--federated {client_id}: cannot read {}: {e}",
                path.display()
            )
        })?;
        let key =
            Certificate::from_pem(&pem).map_err(|e| format!("--federated {client_id}: {e}"))?;
        builder =
            builder.federated_credential(client_id, FederatedCredential::new(issuer, subject, key));
    }
    if let Some(seconds) = args.token_lifetime {
        builder = builder.token_lifetime(Duration::from_secs(seconds));
    }
    match (args.service_protection_limits, args.service_protection) {
        (Some(limits), _) => builder = builder.service_protection(limits),
        (None, true) => builder = builder.service_protection(ServiceProtection::DATAVERSE),
        (None, false) => {}
    }
    if let Some(cost) = args.server_cost {
        builder = builder.server_cost(cost);
    }
    if let Some(n) = args.time_scale {
        builder = builder.time_scale(n);
    }
    if let Some(path) = &args.duplicate_rules {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--duplicate-rules: cannot read {}: {e}", path.display()))?;
        let rules = DuplicateRule::parse_list(&text)
            .map_err(|e| format!("--duplicate-rules {}: {e}", path.display()))?;
        for rule in rules {
            builder = builder.duplicate_rule(rule);
        }
    }
    let emulator = builder.start().await.map_err(|e| e.to_string())?;
    if let Some(path) = &args.seed {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--seed: cannot read {}: {e}", path.display()))?;
        let json = serde_json::from_str(&text)
            .map_err(|e| format!("--seed {}: not JSON: {e}", path.display()))?;
        emulator.seed(&json).map_err(|e| e.to_string())?;
    }
    println!("dynamics-emulator listening on {}", emulator.base_url());
    wait_for_interrupt().await;
    emulator.shutdown().await;
    Ok(())
}

async fn wait_for_interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

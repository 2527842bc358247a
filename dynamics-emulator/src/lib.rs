#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod cert;
mod controls;
mod discovery;
mod identity;
mod jws;
mod odata;
mod protection;
mod schema;
mod server;
mod store;
mod token;
mod webapi;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dynamics_codegen::csdl::Metadata;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use cert::{Certificate, TestCertificate};
pub use controls::{
    Controls, FaultCounts, FaultKind, FaultMix, RequestCounts, ServiceProtectionLimit,
};
pub use discovery::DiscoveryInstance;
pub use identity::{DeviceCodeInfo, GraphApplication, Identity, UserRights};
pub use jws::SigningAlgorithm;
pub use protection::{ServerCost, ServiceProtection};
pub use token::federated::{FederatedCredential, TOKEN_EXCHANGE_AUDIENCE};
pub use token::managed_identity::ManagedIdentity;
pub use webapi::{ActionError, DuplicateRule, OperationCall, OperationHandler};

/// The emulator's table of Edm types, for the test that keeps it in step with the generator's
/// and the client's. Not public API.
#[doc(hidden)]
pub mod __edm {
    pub use crate::schema::edm_kinds;
}

use crate::identity::AppCredential;
use crate::server::Shared;
use crate::token::{Caller, TokenService};

/// The tenant used when none is set.
pub const DEFAULT_TENANT: &str = "00000000-0000-0000-0000-00000000e7a0";

/// Why the emulator could not start or a control call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `$metadata` document is missing, unreadable or invalid.
    #[error("metadata: {0}")]
    Metadata(String),
    /// A certificate could not be read or generated.
    #[error("certificate: {0}")]
    Certificate(String),
    /// Seed data does not fit the metadata.
    #[error("seed: {0}")]
    Seed(String),
    /// A directory control call (device code approval) named an unknown code or user.
    #[error("directory: {0}")]
    Directory(String),
    /// A test control was given settings it cannot apply.
    #[error("control: {0}")]
    Control(String),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

enum MetadataSource {
    File(PathBuf),
    Text(String),
}

/// Configures and starts an [`Emulator`]; made by [`Emulator::builder`].
pub struct EmulatorBuilder {
    metadata: Option<MetadataSource>,
    choices: Option<MetadataSource>,
    operations: Vec<(String, OperationHandler)>,
    tenant: String,
    managed_identities: Vec<ManagedIdentity>,
    identity_header: Option<String>,
    token_lifetime: Duration,
    device_code_interval: Duration,
    max_assertion_lifetime: Option<Duration>,
    address: SocketAddr,
    identity: identity::Config,
    discovery_instances: Vec<DiscoveryInstance>,
    max_file_size: u64,
    protection: protection::Settings,
    duplicate_rules: Vec<DuplicateRule>,
}

impl std::fmt::Debug for EmulatorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorBuilder")
            .field("tenant", &self.tenant)
            .field("apps", &self.identity.apps.len())
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl EmulatorBuilder {
    /// Reads `$metadata` from a file (CSDL XML, as `GET $metadata` returns it).
    pub fn metadata_file(mut self, path: impl AsRef<Path>) -> Self {
        self.metadata = Some(MetadataSource::File(path.as_ref().to_owned()));
        self
    }

    /// Uses `$metadata` given as text.
    pub fn metadata_str(mut self, xml: impl Into<String>) -> Self {
        self.metadata = Some(MetadataSource::Text(xml.into()));
        self
    }

    /// Reads a choices document (the metadata API's option sets, as `dynamics-codegen` reads
    /// them) from a file: choice columns are then checked on write and labelled in formatted
    /// values, and the metadata API serves their option sets.
    pub fn choices_file(mut self, path: impl AsRef<Path>) -> Self {
        self.choices = Some(MetadataSource::File(path.as_ref().to_owned()));
        self
    }

    /// Uses a choices document given as JSON text; see [`EmulatorBuilder::choices_file`].
    pub fn choices_str(mut self, json: impl Into<String>) -> Self {
        self.choices = Some(MetadataSource::Text(json.into()));
        self
    }

    /// Gives the action or function `name` (without namespace, as the metadata declares it)
    /// a behaviour. Its parameters are checked against the metadata before `handler` runs;
    /// an operation without a handler answers `204` when it returns nothing (and `WhoAmI` as
    /// usual), and `501` otherwise. Inside a `$batch` change set the handler runs while the
    /// store is locked, so it must not read the emulator's records itself.
    pub fn action(
        mut self,
        name: impl Into<String>,
        handler: impl Fn(&OperationCall) -> Result<serde_json::Value, ActionError>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.operations.push((name.into(), Arc::new(handler)));
        self
    }

    /// The tenant id (or domain) in the token endpoint path; [`DEFAULT_TENANT`] otherwise.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = tenant.into();
        self
    }

    /// Registers an application that may get tokens with a client assertion signed by the key
    /// of `certificate`. Call again to give an app several certificates, or to add apps. The
    /// app gets an application user, and Microsoft Graph lists it.
    pub fn register_app(
        mut self,
        client_id: impl Into<String>,
        certificate: impl Into<Certificate>,
    ) -> Self {
        self.identity.apps.push((
            client_id.into(),
            AppCredential::Certificate(certificate.into()),
        ));
        self
    }

    /// Registers an application that may get tokens with the client secret `secret`, as
    /// [`EmulatorBuilder::register_app`] does with a certificate; an app may have both.
    pub fn register_app_secret(
        mut self,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.identity.apps.push((
            client_id.into(),
            AppCredential::Secret(identity::directory::ClientSecret::new(secret.into())),
        ));
        self
    }

    /// Lets the app `client_id` exchange tokens of an external issuer for access tokens
    /// (workload identity federation): the token is checked as Entra checks it, see
    /// [`FederatedCredential`]. The app needs no certificate; it gets an application user.
    /// Call again to give an app several federated credentials.
    pub fn federated_credential(
        mut self,
        client_id: impl Into<String>,
        credential: FederatedCredential,
    ) -> Self {
        self.identity
            .apps
            .push((client_id.into(), AppCredential::Federated(credential)));
        self
    }

    /// Gives the emulated host a managed identity, served by both managed identity endpoints
    /// ([`Emulator::identity_endpoint`] in the App Service style, [`Emulator::imds_authority`]
    /// in the IMDS style). Each identity gets an application user.
    pub fn managed_identity(mut self, identity: ManagedIdentity) -> Self {
        self.managed_identities.push(identity);
        self
    }

    /// The secret the App Service style endpoint expects in `X-IDENTITY-HEADER` (what App
    /// Service puts in `IDENTITY_HEADER`); random unless set.
    pub fn identity_header(mut self, header: impl Into<String>) -> Self {
        self.identity_header = Some(header.into());
        self
    }

    /// How long issued access tokens last (`expires_in`); 3599 s by default, as Entra's.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// The longest `exp - nbf` accepted in a client assertion; 10 minutes by default, which is
    /// Entra's recommendation (Entra itself does not enforce it). `None` lifts the limit.
    pub fn max_assertion_lifetime(mut self, max: Option<Duration>) -> Self {
        self.max_assertion_lifetime = max;
        self
    }

    /// The port to listen on; 0 (the default) picks a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.address.set_port(port);
        self
    }

    /// The address to listen on; `127.0.0.1:0` by default. The test controls under
    /// `/_emulator/` answer loopback clients only, whatever the address.
    pub fn address(mut self, address: SocketAddr) -> Self {
        self.address = address;
        self
    }

    /// Adds a directory user who can sign in with the device code flow (approved through
    /// [`Identity::approve_device_code`]); [`UserRights::Admin`] users may register applications
    /// through Microsoft Graph. Each user also gets a `systemusers` record when the metadata has
    /// that table.
    pub fn user(mut self, user_principal_name: impl Into<String>, rights: UserRights) -> Self {
        self.identity
            .users
            .push((user_principal_name.into(), rights));
        self
    }

    /// Lists another environment in Global Discovery, after the emulator's own.
    pub fn discovery_instance(mut self, instance: DiscoveryInstance) -> Self {
        self.discovery_instances.push(instance);
        self
    }

    /// The `interval` a device code response asks clients to poll at; 1 s by default.
    pub fn device_code_interval(mut self, interval: Duration) -> Self {
        self.device_code_interval = interval;
        self
    }

    /// The largest file a file or image column takes, in kilobytes (Dataverse's `MaxSizeInKB`);
    /// 32768 (32 MB, Dataverse's default for file columns) unless set. One limit serves every
    /// file and image column, since `$metadata` does not carry a column's own. A larger upload
    /// is refused with `400` (`0x80044a02`, or `0x80072553` for an image).
    pub fn max_file_size_kb(mut self, kilobytes: u64) -> Self {
        self.max_file_size = kilobytes.saturating_mul(1024);
        self
    }

    /// Turns Dataverse's service protection limits on, evaluated per identity (each app and
    /// each user): [`ServiceProtection::DATAVERSE`] is the default set (6,000 requests and
    /// 1,200 s of execution time per 300 s sliding window, 52 concurrent). A request over a
    /// limit gets `429`, Dataverse's error code and message for that limit and `Retry-After`;
    /// every Web API answer carries `x-ms-ratelimit-burst-remaining-xrm-requests` and
    /// `x-ms-ratelimit-time-remaining-xrm-requests`. Off unless called. Execution time comes from
    /// [`EmulatorBuilder::server_cost`]; without it only the request count and concurrency bite.
    pub fn service_protection(mut self, limits: ServiceProtection) -> Self {
        self.protection.limits = Some(limits);
        self
    }

    /// Holds every Web API request for its simulated execution time, charged to its identity's
    /// execution budget: `per_request` for each request (and each operation of a `$batch`),
    /// plus `per_record` for each record a single request writes, or `per_bulk_record` for each
    /// record of a bulk message (`CreateMultiple`, ...). Requests cost nothing unless called.
    pub fn server_cost(mut self, cost: ServerCost) -> Self {
        self.protection.cost = Some(cost);
        self
    }

    /// Divides every service protection window, execution budget, cost and wait by `n` (1 by
    /// default), so that a load of many windows runs in reasonable time. Messages and the
    /// `x-ms-ratelimit-*` headers keep Dataverse's units; `Retry-After` stays in whole seconds,
    /// rounded up.
    pub fn time_scale(mut self, n: u32) -> Self {
        self.protection.time_scale = Some(n);
        self
    }

    /// Adds a duplicate detection rule. Creates and updates that ask for detection
    /// (`MSCRM.SuppressDuplicateDetection: false`) and match another record under a rule are
    /// refused as Dataverse refuses them: HTTP 500 with code `0x80040333`. Rules naming an
    /// unknown table or column make [`start`](Self::start) fail.
    pub fn duplicate_rule(mut self, rule: DuplicateRule) -> Self {
        self.duplicate_rules.push(rule);
        self
    }

    /// Loads the metadata, binds the socket and starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<Emulator, Error> {
        let protection = protection::Protection::new(self.protection).map_err(Error::Control)?;
        let metadata_xml = match self.metadata {
            Some(MetadataSource::Text(xml)) => xml,
            Some(MetadataSource::File(path)) => std::fs::read_to_string(&path)
                .map_err(|e| Error::Metadata(format!("cannot read {}: {e}", path.display())))?,
            None => {
                return Err(Error::Metadata(
                    "no metadata: call metadata_file or metadata_str".into(),
                ));
            }
        };
        let metadata =
            Metadata::parse(&metadata_xml).map_err(|e| Error::Metadata(e.to_string()))?;
        let choices = match self.choices {
            None => None,
            Some(source) => {
                let text = match source {
                    MetadataSource::Text(json) => json,
                    MetadataSource::File(path) => std::fs::read_to_string(&path).map_err(|e| {
                        Error::Metadata(format!("cannot read {}: {e}", path.display()))
                    })?,
                };
                Some(
                    webapi::ChoiceCatalog::parse(&text)
                        .map_err(|e| Error::Metadata(format!("choices: {e}")))?,
                )
            }
        };
        let listener = TcpListener::bind(self.address)
            .await
            .map_err(|source| Error::Bind {
                addr: self.address,
                source,
            })?;
        let local = listener.local_addr().map_err(|source| Error::Bind {
            addr: self.address,
            source,
        })?;
        let host = match local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        let base_url = match host {
            IpAddr::V4(ip) => format!("http://{ip}:{}", local.port()),
            IpAddr::V6(ip) => format!("http://[{ip}]:{}", local.port()),
        };
        // Each app given to the builder gets one application user, seeded below.
        let mut principals: HashMap<String, Uuid> = HashMap::new();
        let identity = Identity::new(self.identity, &self.tenant, &base_url, |client_id| {
            *principals
                .entry(client_id.to_owned())
                .or_insert_with(Uuid::new_v4)
        });
        let managed = token::managed_identity::ManagedIdentities::new(
            self.managed_identities,
            self.identity_header
                .unwrap_or_else(|| Uuid::new_v4().simple().to_string()),
        );
        // Each managed identity gets an application user too.
        let principals: Vec<(String, Uuid)> =
            principals.into_iter().chain(managed.principals()).collect();
        let organization_id = Uuid::new_v4();
        let tokens = TokenService::new(token::Settings {
            tenant: self.tenant.clone(),
            base_url: base_url.clone(),
            lifetime: self.token_lifetime,
            max_assertion_lifetime: self.max_assertion_lifetime,
            poll_interval: self.device_code_interval,
        })?;
        let controls = Controls::default();
        let system = Caller {
            user_id: Uuid::new_v4(),
        };
        let shared = Arc::new(Shared {
            system,
            tokens,
            controls: controls.clone(),
            api: webapi::WebApi::new(
                &base_url,
                metadata_xml,
                &metadata,
                organization_id,
                choices,
                self.operations,
            )
            .with_max_file_size(self.max_file_size),
            discovery: discovery::Discovery::new(
                &base_url,
                organization_id,
                &self.tenant,
                &self.discovery_instances,
            ),
            identity,
            managed,
            protection,
        });
        shared
            .api
            .set_duplicate_rules(self.duplicate_rules)
            .map_err(Error::Control)?;
        shared
            .api
            .seed_principals(&shared.system, &principals)
            .map_err(Error::Seed)?;
        identity::seed_users(&shared).map_err(Error::Seed)?;
        let (shutdown, watch_shutdown) = watch::channel(false);
        let task = tokio::spawn(server::serve(
            listener,
            server::router(shared.clone()),
            controls,
            watch_shutdown,
        ));
        Ok(Emulator {
            base_url,
            tenant: self.tenant,
            shared,
            shutdown,
            task: Some(task),
        })
    }
}

/// A running emulator. Dropping it stops the server; [`Emulator::shutdown`] also waits for it.
pub struct Emulator {
    base_url: String,
    tenant: String,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url)
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts configuring an emulator.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            metadata: None,
            choices: None,
            operations: Vec::new(),
            tenant: DEFAULT_TENANT.to_owned(),
            managed_identities: Vec::new(),
            identity_header: None,
            token_lifetime: Duration::from_secs(3599),
            device_code_interval: Duration::from_secs(1),
            max_assertion_lifetime: Some(Duration::from_secs(600)),
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            identity: identity::Config::default(),
            discovery_instances: Vec::new(),
            max_file_size: webapi::DEFAULT_MAX_FILE_SIZE,
            protection: protection::Settings::default(),
            duplicate_rules: Vec::new(),
        }
    }

    /// `http://127.0.0.1:PORT`, with no trailing slash; every endpoint lives under it.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The environment URL, which is the base URL (as `https://org.crm.dynamics.com` is).
    pub fn environment_url(&self) -> &str {
        &self.base_url
    }

    /// The Web API root, `{base}/api/data/v9.2/`.
    pub fn web_api_url(&self) -> String {
        format!("{}/api/data/v9.2/", self.base_url)
    }

    /// The token endpoint, `{base}/{tenant}/oauth2/v2.0/token`; also the assertion's `aud`.
    pub fn token_endpoint(&self) -> String {
        self.shared.tokens.endpoint()
    }

    /// The authority host to give an Entra client in place of `https://login.microsoftonline.com`.
    pub fn authority_host(&self) -> &str {
        &self.base_url
    }

    /// The scope to ask tokens for: `{environment}/.default`.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.base_url)
    }

    /// The App Service style managed identity endpoint, `{base}/msi/token`: what to put in
    /// `IDENTITY_ENDPOINT`, with [`Emulator::identity_header`] in `IDENTITY_HEADER`.
    pub fn identity_endpoint(&self) -> String {
        format!(
            "{}{}",
            self.base_url,
            token::managed_identity::APP_SERVICE_PATH
        )
    }

    /// The secret the App Service style endpoint expects in `X-IDENTITY-HEADER`.
    pub fn identity_header(&self) -> &str {
        self.shared.managed.header()
    }

    /// Where the IMDS style endpoint lives (`{base}/metadata/identity/oauth2/token` under it):
    /// what to put in `AZURE_POD_IDENTITY_AUTHORITY_HOST` in place of `http://169.254.169.254`.
    pub fn imds_authority(&self) -> &str {
        &self.base_url
    }

    /// The tenant in the token endpoint path.
    pub fn tenant_id(&self) -> &str {
        &self.tenant
    }

    /// Global Discovery's `Instances` URL.
    pub fn discovery_url(&self) -> String {
        format!("{}/api/discovery/v2.0/Instances", self.base_url)
    }

    /// The directory: device code approval and the applications registered through Graph.
    pub fn identity(&self) -> &Identity {
        &self.shared.identity
    }

    /// The Microsoft Graph root served here, `{base}/v1.0`.
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.base_url)
    }

    /// The test controls.
    pub fn controls(&self) -> &Controls {
        &self.shared.controls
    }

    /// Replaces the duplicate detection rules (see [`EmulatorBuilder::duplicate_rule`]).
    pub fn set_duplicate_rules(&self, rules: Vec<DuplicateRule>) -> Result<(), Error> {
        self.shared
            .api
            .set_duplicate_rules(rules)
            .map_err(Error::Control)
    }

    /// Loads records: `{"<entity set>": [{record}, ...], ...}`.
    ///
    /// Records are written as a client would send them to `POST /{set}`, checked against the
    /// metadata, and may carry `nav@odata.bind` references to each other in any order.
    pub fn seed(&self, json: &serde_json::Value) -> Result<(), Error> {
        self.shared
            .api
            .seed(&self.shared.system, json)
            .map_err(Error::Seed)
    }

    /// Every record of an entity set as `GET` returns it (with all annotations), in creation
    /// order; `None` for an unknown set.
    pub fn records(&self, entity_set: &str) -> Option<Vec<serde_json::Value>> {
        self.shared.api.snapshot(entity_set, None)
    }

    /// One record as `GET` returns it (with all annotations).
    pub fn record(&self, entity_set: &str, id: Uuid) -> Option<serde_json::Value> {
        self.shared.api.snapshot(entity_set, Some(id))?.pop()
    }

    /// Stops accepting, closes open connections and waits for the server to finish.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

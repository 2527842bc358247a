//! The command line, declared with clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Dataverse from the command line: sign in, pick an environment, pull metadata, generate code,
/// and set up certificate connections that apps use by name.
#[derive(Debug, Parser)]
#[command(name = "dynamics", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 success, 1 failure, 2 usage, 3 sign-in needed or failed, \
4 refused for lack of rights, 5 not found, 6 connection store unusable, 7 service error, \
8 import finished with rejected rows."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Sign in as yourself with the device code flow; tokens are cached encrypted.
    Login {
        /// Tenant id or domain (default: your home tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Forget the signed-in user and their tokens.
    Logout,
    /// List your environments from the Global Discovery Service.
    Environments {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Work with an environment's $metadata.
    Metadata {
        #[command(subcommand)]
        command: MetadataCommand,
    },
    /// Generate Rust code for some tables of a $metadata file.
    Codegen {
        /// The $metadata file (CSDL XML).
        #[arg(long)]
        metadata: PathBuf,
        /// Logical names of the tables, comma separated.
        #[arg(long, value_delimiter = ',', required = true)]
        entities: Vec<String>,
        /// A choices document, for choice columns as enums.
        #[arg(long)]
        choices: Option<PathBuf>,
        /// Where to write the code (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Certificates for app registrations.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
    /// Named, encrypted connections that apps use with `Client::from_connection(NAME)`.
    Connection {
        #[command(subcommand)]
        command: ConnectionCommand,
    },
    /// Records in and out of a table: import checked against $metadata, export with change
    /// tracking.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DataCommand {
    /// Import rows from CSV or JSON Lines into a table, each checked against $metadata first.
    ///
    /// Every row is checked before anything is sent; bad rows go to the rejects file with their
    /// line and reason (exit code 8), the others are written. A rerun after an interruption
    /// sends only what is missing (the journal `FILE.import-journal` remembers what was
    /// written; delete it to start over).
    #[command(
        after_help = "Cells: text as is; numbers and decimals exact; dates YYYY-MM-DD; date-times \
RFC 3339 (2024-05-01T08:30:00Z); yes/no true/false/1/0; choices by value or label (labels `;` \
separated for multi-select); lookups as `<lookup>` = `table:id` or `<navigation>@odata.bind` = \
`/entityset(id)`. An empty CSV cell leaves the column unset."
    )]
    Import {
        /// The table: logical name (`account`) or entity set (`accounts`).
        table: String,
        /// The file to import.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// The file's format (default: from its extension, `.jsonl` JSON Lines, else CSV).
        #[arg(long, value_enum)]
        format: Option<crate::data::Format>,
        /// Create records, upsert them, or update existing ones.
        #[arg(long, value_enum, default_value = "create")]
        mode: crate::data::Mode,
        /// Identify records by this alternate key column (comma separated for a key of several
        /// columns) instead of their id.
        #[arg(long, value_delimiter = ',', value_name = "COLUMN")]
        key: Vec<String>,
        /// Where rejected rows go (default: `FILE.rejects.csv` or `.jsonl`).
        #[arg(long, value_name = "FILE")]
        rejects: Option<PathBuf>,
        /// Read $metadata from this file instead of downloading it.
        #[arg(long, value_name = "FILE")]
        metadata: Option<PathBuf>,
        /// The connection to use; several names separated by commas make an identity pool
        /// (default: DYNAMICS_CONNECTION, else DYNAMICS_URL and AZURE_*).
        #[arg(long, value_name = "NAME")]
        connection: Option<String>,
    },
    /// Export a table's records to CSV or JSON Lines; with --track, only what changed.
    ///
    /// Records are read page by page, one page in memory at a time. With --track, the first
    /// run exports everything and saves the delta link; later runs write only what changed
    /// since, deleted rows marked `deleted` in an `@removed` column.
    Export {
        /// The table: logical name (`account`) or entity set (`accounts`).
        table: String,
        /// The columns, comma separated (default: all); the id always comes first.
        #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
        select: Vec<String>,
        /// An OData $filter expression, e.g. `revenue gt 1000`.
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
        /// The output format (default: from -o's extension, else CSV).
        #[arg(long, value_enum)]
        format: Option<crate::data::Format>,
        /// Where to write (default: standard output); written atomically.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Change tracking state: the first run exports everything and saves the delta link
        /// here, later runs export what changed since.
        #[arg(long, value_name = "STATE_FILE")]
        track: Option<PathBuf>,
        /// The connection to use; several names separated by commas make an identity pool
        /// (default: DYNAMICS_CONNECTION, else DYNAMICS_URL and AZURE_*).
        #[arg(long, value_name = "NAME")]
        connection: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum MetadataCommand {
    /// Download $metadata, and optionally the choices document (written atomically).
    Pull {
        #[command(flatten)]
        environment: EnvironmentArg,
        /// Where to write it.
        #[arg(short, long, default_value = "metadata.xml")]
        output: PathBuf,
        /// Also write the choices document (option sets of choice columns) here.
        #[arg(long)]
        choices: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CertCommand {
    /// Create a self-signed RSA certificate: PEM and DER (.cer) public certificate, and the
    /// private key in a password-protected PKCS#12 (.pfx). The key is never printed.
    New {
        /// Subject, `CN=name` or a bare name.
        #[arg(long)]
        subject: String,
        /// Days of validity.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// RSA key size (2048 or more).
        #[arg(long, default_value_t = 2048)]
        bits: u32,
        /// Directory to write into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Read the PKCS#12 password from this environment variable; otherwise a random one is
        /// written to `<name>.pfx.password` (mode 0600).
        #[arg(long)]
        password_env: Option<String>,
        /// Replace an existing `.pfx` and `.pfx.password` (a private key is never replaced
        /// otherwise).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct EnvironmentArg {
    /// The environment URL; when absent you choose among yours (on a terminal).
    #[arg(long, env = "DYNAMICS_ENVIRONMENT")]
    pub(crate) environment: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConnectionCommand {
    /// With admin rights: register an app with a new certificate, create its application user
    /// with a role, save the connection and test it.
    Create {
        /// The connection name.
        name: String,
        #[command(flatten)]
        environment: EnvironmentArg,
        /// The security role of the application user.
        #[arg(long)]
        role: String,
        /// The app registration's display name (default: `dynamics-<NAME>`).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Without admin rights: create the certificate and a request package for an administrator.
    Request {
        /// The connection name.
        name: String,
        #[command(flatten)]
        environment: EnvironmentArg,
        /// The administrator's e-mail address, for the ready-to-send message.
        #[arg(long)]
        admin_email: String,
        /// The security role to ask for.
        #[arg(long, default_value = "Basic User")]
        role: String,
        /// Where to write the package.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Finish a requested connection with the ids the administrator sent back, and test it.
    Complete {
        /// The connection name.
        name: String,
        /// The tenant id.
        #[arg(long)]
        tenant_id: String,
        /// The application (client) id.
        #[arg(long)]
        client_id: String,
    },
    /// List connections.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one connection (never its key).
    Show {
        /// The connection name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Get a token with the connection's certificate and call WhoAmI.
    Test {
        /// The connection name.
        name: String,
    },
    /// Change a connection's app registration or role (needs your own sign-in).
    Edit {
        /// The connection name.
        name: String,
        /// A new display name for the app registration.
        #[arg(long)]
        display_name: Option<String>,
        /// Give the application user this security role too.
        #[arg(long)]
        role: Option<String>,
    },
    /// Replace the connection's certificate with a new one (needs your own sign-in).
    RotateCert {
        /// The connection name.
        name: String,
        /// Days of validity of the new certificate.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Delete a connection.
    Delete {
        /// The connection name.
        name: String,
        /// Also delete the app registration (needs your own sign-in).
        #[arg(long)]
        unregister: bool,
    },
}

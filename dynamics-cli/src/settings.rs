//! Where the CLI signs in and which services it calls; each can be pointed elsewhere (a
//! sovereign cloud, or the local emulator in tests) with an environment variable.

/// Microsoft's public client for Dataverse samples and tools, used for the device code flow.
const DEFAULT_CLIENT_ID: &str = "51f81489-12ee-4a9e-aaae-a2591f45987d";

/// The endpoints of one cloud.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// `DYNAMICS_AUTHORITY_HOST`, default `https://login.microsoftonline.com`.
    pub(crate) authority_host: String,
    /// `DYNAMICS_GRAPH_URL`, default `https://graph.microsoft.com`.
    pub(crate) graph_url: String,
    /// `DYNAMICS_DISCOVERY_URL`, default `https://globaldisco.crm.dynamics.com`.
    pub(crate) discovery_url: String,
    /// `DYNAMICS_CLI_CLIENT_ID`: the public client the user signs in to.
    pub(crate) client_id: String,
}

impl Settings {
    pub(crate) fn from_env() -> Self {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
                .trim_end_matches('/')
                .to_owned()
        };
        Self {
            authority_host: var(
                "DYNAMICS_AUTHORITY_HOST",
                "https://login.microsoftonline.com",
            ),
            graph_url: var("DYNAMICS_GRAPH_URL", "https://graph.microsoft.com"),
            discovery_url: var(
                "DYNAMICS_DISCOVERY_URL",
                "https://globaldisco.crm.dynamics.com",
            ),
            client_id: var("DYNAMICS_CLI_CLIENT_ID", DEFAULT_CLIENT_ID),
        }
    }
}

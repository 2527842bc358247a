//! Environments from the Global Discovery Service, and choosing one.

use std::io::{BufRead as _, Write as _};

use dynamics_client::connection::ConnectionStore;
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use crate::error::{CliError, Result};
use crate::output;
use crate::settings::Settings;
use crate::{http, session};

/// One environment instance, as the CLI shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Environment {
    pub(crate) friendly_name: String,
    pub(crate) unique_name: String,
    pub(crate) url: String,
    pub(crate) region: String,
    pub(crate) version: String,
    pub(crate) state: String,
}

impl Environment {
    fn from_instance(instance: &Value) -> Self {
        let text = |name: &str| {
            instance
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let state = match instance.get("State").and_then(Value::as_i64) {
            Some(0) => "Enabled".to_owned(),
            Some(1) => "Disabled".to_owned(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        Self {
            friendly_name: text("FriendlyName"),
            unique_name: text("UniqueName"),
            url: text("Url").trim_end_matches('/').to_owned(),
            region: text("Region"),
            version: text("Version"),
            state,
        }
    }
}

/// The signed-in user's environments.
pub(crate) async fn list(store: &ConnectionStore, settings: &Settings) -> Result<Vec<Environment>> {
    let token = session::token_for(store, &settings.discovery_url).await?;
    let url = format!("{}/api/discovery/v2.0/Instances", settings.discovery_url);
    let (_, body, _) = http::call(
        &http::client_for(&url)?,
        "Global Discovery",
        Method::GET,
        &url,
        token.expose(),
        None,
    )
    .await?;
    Ok(body
        .get("value")
        .and_then(Value::as_array)
        .map(|list| list.iter().map(Environment::from_instance).collect())
        .unwrap_or_default())
}

/// `--environment URL` when given; otherwise the user's only environment, or the one they
/// pick on a terminal; otherwise a usage error listing them.
pub(crate) async fn resolve(
    store: &ConnectionStore,
    settings: &Settings,
    given: Option<&str>,
) -> Result<String> {
    if let Some(url) = given {
        return Ok(url.trim_end_matches('/').to_owned());
    }
    output::progress("Finding your environments (Global Discovery)");
    let environments = list(store, settings).await?;
    match environments.as_slice() {
        [] => Err(CliError::NotFound(
            "Global Discovery lists no environment for you".into(),
        )),
        [only] => {
            output::progress(&format!("Using {} ({})", only.friendly_name, only.url));
            Ok(only.url.clone())
        }
        several if output::interactive() => prompt(several),
        several => {
            let names: Vec<String> = several
                .iter()
                .map(|e| format!("  {} ({})", e.url, e.friendly_name))
                .collect();
            Err(CliError::Usage(format!(
                "you have {} environments; choose one with --environment URL:\n{}",
                several.len(),
                names.join("\n")
            )))
        }
    }
}

fn prompt(environments: &[Environment]) -> Result<String> {
    eprintln!("Which environment?");
    for (i, e) in environments.iter().enumerate() {
        eprintln!(
            "  {}) {}",
            i + 1,
            output::clean(&format!("{} - {} ({})", e.friendly_name, e.url, e.region))
        );
    }
    let stdin = std::io::stdin();
    loop {
        eprint!("Number [1-{}]: ", environments.len());
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let read = stdin
            .lock()
            .read_line(&mut line)
            .map_err(CliError::io("read", "standard input"))?;
        if read == 0 {
            return Err(CliError::Usage("no environment chosen".into()));
        }
        if let Ok(n) = line.trim().parse::<usize>()
            && let Some(e) = n.checked_sub(1).and_then(|i| environments.get(i))
        {
            return Ok(e.url.clone());
        }
    }
}

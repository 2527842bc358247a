//! Environment and authority URLs: https enforcement, the token scope and the Web API base.

use url::{Host, Url};

use crate::error::{Error, Result};

/// Parses a URL and refuses anything but `https`, except for loopback hosts (local test servers).
pub(crate) fn parse_secure_url(what: &str, text: &str) -> Result<Url> {
    let url = Url::parse(text)
        .map_err(|e| Error::invalid_input(format!("{what} `{text}` is not a valid URL: {e}")))?;
    require_secure(what, &url)?;
    Ok(url)
}

/// Refuses plain `http` to anything but a loopback host, so tokens never cross the network unencrypted.
pub(crate) fn require_secure(what: &str, url: &Url) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(Error::invalid_input(format!(
            "{what} `{url}` uses plain http; https is required except for loopback hosts"
        ))),
        other => Err(Error::invalid_input(format!(
            "{what} `{url}` has unsupported scheme `{other}`; use https"
        ))),
    }
}

/// Parses the address of a token service on the machine itself (a managed identity endpoint):
/// plain `http` is how those are served, and is allowed to loopback and link-local
/// (`169.254.0.0/16`, never routed off the host's link) addresses, such as IMDS at
/// `169.254.169.254` and App Service's identity endpoint on Linux.
/// <https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token>
pub(crate) fn parse_host_service_url(what: &str, text: &str) -> Result<Url> {
    let url = Url::parse(text)
        .map_err(|e| Error::invalid_input(format!("{what} `{text}` is not a valid URL: {e}")))?;
    let link_local = matches!(url.host(), Some(Host::Ipv4(ip)) if ip.is_link_local());
    if url.scheme() == "http" && link_local {
        return Ok(url);
    }
    require_secure(what, &url)?;
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The `.default` scope of an environment: its origin plus `/.default`.
pub(crate) fn scope_for(environment: &Url) -> String {
    format!("{}/.default", environment.origin().ascii_serialization())
}

/// `{environment}/api/data/{version}/`, always ending in a slash so relative joins stay inside it.
pub(crate) fn web_api_base(environment: &Url, api_version: &str) -> Result<Url> {
    if api_version.is_empty()
        || !api_version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.')
    {
        return Err(Error::invalid_input(format!(
            "API version `{api_version}` must look like `v9.2`"
        )));
    }
    let mut base = environment.clone();
    base.set_query(None);
    base.set_fragment(None);
    let path = base.path().trim_end_matches('/').to_owned();
    base.set_path(&format!("{path}/api/data/{api_version}/"));
    Ok(base)
}

/// The v2 token endpoint of a tenant under an authority host, which is also the assertion's `aud`.
pub(crate) fn token_endpoint(authority_host: &Url, tenant_id: &str) -> Result<Url> {
    if tenant_id.is_empty()
        || !tenant_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(Error::invalid_input(format!(
            "tenant id `{tenant_id}` must be a GUID or a domain name"
        )));
    }
    let host = authority_host.as_str().trim_end_matches('/');
    parse_secure_url(
        "token endpoint",
        &format!("{host}/{tenant_id}/oauth2/v2.0/token"),
    )
}

/// The public-cloud authority host.
pub(crate) const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_required_except_loopback() {
        assert!(parse_secure_url("environment URL", "https://org.crm.dynamics.com").is_ok());
        assert!(parse_secure_url("environment URL", "http://127.0.0.1:8080").is_ok());
        assert!(parse_secure_url("environment URL", "http://127.8.9.1:8080").is_ok());
        assert!(parse_secure_url("environment URL", "http://localhost:1").is_ok());
        assert!(parse_secure_url("environment URL", "http://[::1]:1").is_ok());
        let err = parse_secure_url("environment URL", "http://org.crm.dynamics.com").unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)));
        assert!(err.to_string().contains("plain http"), "{err}");
        assert!(parse_secure_url("environment URL", "http://10.0.0.1").is_err());
        assert!(parse_secure_url("environment URL", "http://localhost.evil.com").is_err());
        assert!(parse_secure_url("environment URL", "ftp://localhost").is_err());
        assert!(parse_secure_url("environment URL", "not a url").is_err());
    }

    #[test]
    fn host_services_may_use_http_on_loopback_and_link_local_only() {
        let imds = "http://169.254.169.254/metadata/identity/oauth2/token";
        assert!(parse_host_service_url("IMDS", imds).is_ok());
        assert!(
            parse_host_service_url("IDENTITY_ENDPOINT", "http://169.254.129.3:8081/msi/token")
                .is_ok()
        );
        assert!(
            parse_host_service_url("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/MSI/token").is_ok()
        );
        assert!(
            parse_host_service_url("IDENTITY_ENDPOINT", "https://id.example.com/token").is_ok()
        );
        let err = parse_host_service_url("IDENTITY_ENDPOINT", "http://10.1.2.3/token").unwrap_err();
        assert!(err.to_string().contains("plain http"), "{err}");
        assert!(parse_host_service_url("IMDS", "http://169.254.169.254.evil.com/").is_err());
    }

    #[test]
    fn scope_and_base() {
        let env = Url::parse("https://org.crm.dynamics.com/").unwrap();
        assert_eq!(scope_for(&env), "https://org.crm.dynamics.com/.default");
        assert_eq!(
            web_api_base(&env, "v9.2").unwrap().as_str(),
            "https://org.crm.dynamics.com/api/data/v9.2/"
        );
        let local = Url::parse("http://127.0.0.1:4000/org1?x=1").unwrap();
        assert_eq!(scope_for(&local), "http://127.0.0.1:4000/.default");
        assert_eq!(
            web_api_base(&local, "v9.2").unwrap().as_str(),
            "http://127.0.0.1:4000/org1/api/data/v9.2/"
        );
        assert!(web_api_base(&env, "../x").is_err());
    }

    #[test]
    fn token_endpoint_shape() {
        let host = Url::parse(DEFAULT_AUTHORITY_HOST).unwrap();
        assert_eq!(
            token_endpoint(&host, "contoso.onmicrosoft.com")
                .unwrap()
                .as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert!(token_endpoint(&host, "a/b").is_err());
        assert!(token_endpoint(&host, "").is_err());
    }
}

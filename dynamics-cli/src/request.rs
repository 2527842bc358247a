//! The request package for an administrator: the public certificate, and a message with the
//! exact steps (Markdown, and a ready-to-send `.eml` with the certificate attached).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::certificate::{NewCertificate, write_file};
use crate::error::{CliError, Result};

/// What the package says.
pub(crate) struct Request<'a> {
    pub(crate) name: &'a str,
    pub(crate) display_name: &'a str,
    pub(crate) environment_url: &'a str,
    pub(crate) admin_email: &'a str,
    pub(crate) requester: Option<&'a str>,
    pub(crate) role: &'a str,
}

/// The files written.
pub(crate) struct Package {
    pub(crate) dir: PathBuf,
    pub(crate) cer: PathBuf,
    pub(crate) markdown: PathBuf,
    pub(crate) eml: PathBuf,
}

fn steps(request: &Request<'_>, cert: &NewCertificate, cer_name: &str) -> String {
    let Request {
        name,
        display_name,
        environment_url,
        role,
        ..
    } = request;
    let thumbprint = cert.thumbprint();
    let not_after = cert.not_after();
    format!(
        "# Request: certificate access to Dataverse for `{name}`\n\
\n\
Please register an application that signs in with the attached certificate, give it access to\n\
the Dataverse environment {environment_url} with the security role **{role}**, and reply with the\n\
tenant id and the application (client) id. The certificate holds no secret: its private key\n\
never left the requester's machine.\n\
\n\
- Certificate file: `{cer_name}` (DER; a PEM copy is beside it)\n\
- SHA-1 thumbprint: `{thumbprint}`\n\
- Valid until: {not_after}\n\
\n\
## 1. Register the application (Microsoft Entra admin center)\n\
\n\
1. Open https://entra.microsoft.com > **Identity** > **Applications** > **App registrations** > **New registration**.\n\
2. Name: `{display_name}`. Supported account types: **Accounts in this organizational directory only**. No redirect URI. Select **Register**.\n\
3. On the app's **Overview**, copy the **Application (client) ID** and the **Directory (tenant) ID**.\n\
4. **Certificates & secrets** > **Certificates** > **Upload certificate**: choose `{cer_name}`. Check that the thumbprint shown is `{thumbprint}`.\n\
\n\
The same with the Azure CLI:\n\
\n\
```sh\n\
az ad app create --display-name \"{display_name}\" --sign-in-audience AzureADMyOrg --query appId -o tsv\n\
az ad app credential reset --id <APP_ID> --cert @{name}.pem --append\n\
az ad sp create --id <APP_ID>\n\
az account show --query tenantId -o tsv\n\
```\n\
\n\
## 2. Create the application user in Dataverse (Power Platform admin center)\n\
\n\
1. Open https://admin.powerplatform.microsoft.com > **Environments** > the environment at {environment_url} > **Settings** > **Users + permissions** > **Application users**.\n\
2. **New app user** > **Add an app**: choose `{display_name}` (search by the client id). Business unit: the root business unit.\n\
3. Security roles: **{role}**. Select **Create**.\n\
\n\
## 3. Reply with two ids\n\
\n\
Send back the **tenant id** and the **client id**. The requester then runs:\n\
\n\
```sh\n\
dynamics connection complete {name} --tenant-id <TENANT_ID> --client-id <CLIENT_ID>\n\
```\n\
\n\
which checks that the certificate signs in and that the application user can call the environment.\n"
    )
}

/// Writes the package into `out/<name>-request/`.
pub(crate) fn write(request: &Request<'_>, cert: &NewCertificate, out: &Path) -> Result<Package> {
    let dir = out.join(format!("{}-request", request.name));
    std::fs::create_dir_all(&dir).map_err(CliError::io("create directory", &dir))?;
    let cer_name = format!("{}.cer", request.name);
    let cer = dir.join(&cer_name);
    let der = cert.cert_der()?;
    write_file(&cer, &der)?;
    write_file(
        &dir.join(format!("{}.pem", request.name)),
        cert.cert_pem()?.as_bytes(),
    )?;
    let text = steps(request, cert, &cer_name);
    let markdown = dir.join("request.md");
    write_file(&markdown, text.as_bytes())?;
    let eml = dir.join("request.eml");
    write_file(&eml, email(request, &text, &cer_name, &der).as_bytes())?;
    Ok(Package {
        dir,
        cer,
        markdown,
        eml,
    })
}

/// A MIME message (RFC 5322 / 2045): the steps as text, the certificate attached.
fn email(request: &Request<'_>, text: &str, cer_name: &str, der: &[u8]) -> String {
    let boundary = format!("dynamics-{}", uuid::Uuid::new_v4().simple());
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let from = request
        .requester
        .map(|r| format!("From: {r}\r\n"))
        .unwrap_or_default();
    let body64 = wrap(&STANDARD.encode(text.as_bytes()));
    let cert64 = wrap(&STANDARD.encode(der));
    format!(
        "{from}To: {to}\r\n\
Subject: Please register the app `{display}` for Dataverse access\r\n\
Date: {date}\r\n\
MIME-Version: 1.0\r\n\
X-Unsent: 1\r\n\
Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\
\r\n\
--{boundary}\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{body64}\r\n\
--{boundary}\r\n\
Content-Type: application/pkix-cert; name=\"{cer_name}\"\r\n\
Content-Disposition: attachment; filename=\"{cer_name}\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{cert64}\r\n\
--{boundary}--\r\n",
        to = request.admin_email,
        display = request.display_name,
    )
}

/// Base64 in 76-character lines, as MIME wants.
fn wrap(text: &str) -> String {
    text.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

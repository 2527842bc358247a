//! Calling Dataverse actions (`POST`) and functions (`GET`), bound and unbound, untyped: JSON
//! parameters in, JSON out. Function parameters travel as `@p` aliases in the query string, so
//! every value is an encoded literal and never part of the path.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use crate::client::{Client, Request};
use crate::crud::record_path;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::typed::Literal;

/// Namespace of Dataverse's bound operations.
const NAMESPACE: &str = "Microsoft.Dynamics.CRM.";

/// Left as is in an alias value; the rest is percent-encoded so that no value can end the
/// query option it stands in.
const ALIAS_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b':');

/// The parameters of a function call, in the order given.
///
/// ```
/// use dynamics_client::FunctionParameters;
/// let params = FunctionParameters::new()
///     .with("LocalizedStandardName", "Pacific Standard Time")
///     .unwrap()
///     .with("LocaleId", 1033)
///     .unwrap();
/// assert_eq!(
///     params.to_call_suffix(),
///     "(LocalizedStandardName=@p1,LocaleId=@p2)?@p1='Pacific%20Standard%20Time'&@p2=1033"
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionParameters {
    params: Vec<(String, String)>,
}

impl FunctionParameters {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a parameter with a literal value (string, number, GUID, date, boolean, …).
    pub fn with<T: Literal>(self, name: &str, value: T) -> Result<Self> {
        let mut literal = String::new();
        value.write_literal(&mut literal);
        self.push(name, literal)
    }

    /// Adds a parameter naming a record: `{'@odata.id':'<set>(<id>)'}`.
    pub fn with_record<E: Entity>(self, name: &str, id: Uuid) -> Result<Self> {
        let value = format!("{{'@odata.id':'{}'}}", record_path::<E>(id));
        self.push(name, value)
    }

    fn push(mut self, name: &str, value: String) -> Result<Self> {
        check_identifier("parameter", name)?;
        if self.params.iter().any(|(n, _)| n == name) {
            return Err(Error::invalid_input(format!(
                "function parameter `{name}` is given twice"
            )));
        }
        self.params.push((name.to_owned(), value));
        Ok(self)
    }

    /// `(A=@p1,B=@p2)?@p1=…&@p2=…`, or `()` without parameters.
    pub fn to_call_suffix(&self) -> String {
        if self.params.is_empty() {
            return "()".to_owned();
        }
        let names: Vec<String> = self
            .params
            .iter()
            .enumerate()
            .map(|(i, (name, _))| format!("{name}=@p{}", i + 1))
            .collect();
        let values: Vec<String> = self
            .params
            .iter()
            .enumerate()
            .map(|(i, (_, value))| {
                format!("@p{}={}", i + 1, utf8_percent_encode(value, ALIAS_VALUE))
            })
            .collect();
        format!("({})?{}", names.join(","), values.join("&"))
    }
}

/// Operation and parameter names are identifiers, optionally namespace-qualified.
fn check_identifier(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && !name.ends_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "{what} name `{name}` may hold only letters, digits, `_` and `.`"
        )))
    }
}

/// A bound operation's full name: `Microsoft.Dynamics.CRM.<name>` unless already qualified.
fn bound_name(name: &str) -> Result<String> {
    check_identifier("operation", name)?;
    Ok(if name.contains('.') {
        name.to_owned()
    } else {
        format!("{NAMESPACE}{name}")
    })
}

fn unbound_name(name: &str) -> Result<&str> {
    check_identifier("operation", name)?;
    if name.contains('.') {
        // Dataverse refuses the qualified name for unbound operations.
        return Err(Error::invalid_input(format!(
            "unbound operation `{name}` must be called by its plain name, without a namespace"
        )));
    }
    Ok(name)
}

impl Client {
    /// Calls an unbound function (`GET <name>(...)`), e.g. `WhoAmI` or
    /// `RetrieveTotalRecordCount`, and decodes its JSON answer.
    pub async fn call_function<R: DeserializeOwned>(
        &self,
        name: &str,
        parameters: &FunctionParameters,
    ) -> Result<R> {
        let path = format!("{}{}", unbound_name(name)?, parameters.to_call_suffix());
        self.get(&path).await
    }

    /// Calls a function bound to the record `id` of `E`
    /// (`GET <set>(<id>)/Microsoft.Dynamics.CRM.<name>(...)`).
    pub async fn call_bound_function<E: Entity, R: DeserializeOwned>(
        &self,
        id: Uuid,
        name: &str,
        parameters: &FunctionParameters,
    ) -> Result<R> {
        let path = format!(
            "{}/{}{}",
            record_path::<E>(id),
            bound_name(name)?,
            parameters.to_call_suffix()
        );
        self.get(&path).await
    }

    /// Calls an unbound action (`POST <name>` with `body` as its JSON parameters). Returns the
    /// JSON answer, or `Value::Null` for `204 No Content`.
    pub async fn call_action(&self, name: &str, body: &impl Serialize) -> Result<Value> {
        let path = unbound_name(name)?.to_owned();
        self.post_action(&path, body).await
    }

    /// Calls an action bound to the record `id` of `E`, or to the entity set of `E` when `id`
    /// is `None` (`POST <set>(<id>)/Microsoft.Dynamics.CRM.<name>`).
    pub async fn call_bound_action<E: Entity>(
        &self,
        id: Option<Uuid>,
        name: &str,
        body: &impl Serialize,
    ) -> Result<Value> {
        let target = match id {
            Some(id) => record_path::<E>(id),
            None => E::ENTITY_SET_NAME.to_owned(),
        };
        let path = format!("{target}/{}", bound_name(name)?);
        self.post_action(&path, body).await
    }

    async fn post_action(&self, path: &str, body: &impl Serialize) -> Result<Value> {
        let url = self.url(path)?;
        let mut request = Request::new(Method::POST, url, "");
        request.body = Some(serde_json::to_vec(body).map_err(|e| {
            Error::invalid_input(format!("could not serialize the parameters of {path}: {e}"))
        })?);
        // An action may change data: never sent twice after an answer that may have come
        // after it ran.
        request.idempotent = false;
        let response = self.send(request).await?;
        if response.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        Error::decode_json(path, &response.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_escape_their_alias() {
        let params = FunctionParameters::new()
            .with("Name", "x')&$filter=1 eq 1&@p2='")
            .unwrap();
        assert_eq!(
            params.to_call_suffix(),
            "(Name=@p1)?@p1='x'')%26%24filter%3D1%20eq%201%26%40p2%3D'''"
        );
        assert!(FunctionParameters::new().with("a=b", 1).is_err());
        assert!(
            FunctionParameters::new()
                .with("a", 1)
                .unwrap()
                .with("a", 2)
                .is_err()
        );
        assert_eq!(FunctionParameters::new().to_call_suffix(), "()");
    }

    #[test]
    fn operation_names() {
        assert_eq!(
            bound_name("AddToQueue").unwrap(),
            "Microsoft.Dynamics.CRM.AddToQueue"
        );
        assert_eq!(bound_name("contoso.Custom").unwrap(), "contoso.Custom");
        assert!(bound_name("a/b").is_err());
        assert!(bound_name("").is_err());
        assert!(unbound_name("Microsoft.Dynamics.CRM.WhoAmI").is_err());
        assert_eq!(unbound_name("WhoAmI").unwrap(), "WhoAmI");
    }
}

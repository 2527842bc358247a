//! Calling Dataverse actions (`POST`) and functions (`GET`), bound and unbound.
//!
//! Untyped: JSON parameters in, JSON out ([`Client::call_action`], [`Client::call_function`]
//! and their bound forms). Typed: a request type implementing [`Operation`], generated for
//! each operation of the metadata, run with [`Client::execute`], [`Client::execute_bound`] or
//! [`Client::execute_bound_to_set`]. Function parameters travel as `@p` aliases in the query
//! string, so every value is an encoded literal and never part of the path.

use std::marker::PhantomData;

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::client::Client;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::request::{ApiRequest, Body, RetryClass, record_path};
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
/// use dynamics_client::operations::FunctionParameters;
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

    /// Adds a parameter whose value is JSON: a complex value, a collection, or an entity
    /// (`{"@odata.id":"accounts(<id>)"}`, see [`record_odata_id`]).
    pub fn with_json<T: Serialize + ?Sized>(self, name: &str, value: &T) -> Result<Self> {
        let json = serde_json::to_string(value).map_err(|e| {
            Error::invalid_input(format!("function parameter `{name}` is not JSON: {e}"))
        })?;
        self.push(name, json)
    }

    /// Adds an enum parameter: `Microsoft.Dynamics.CRM.EntityFilters'Entity,Attributes'`.
    /// `member` serializes to the member's name (or names, comma-separated, for a flags enum).
    pub fn with_enum<T: Serialize + ?Sized>(
        self,
        name: &str,
        enum_type: &str,
        member: &T,
    ) -> Result<Self> {
        check_identifier("enum type", enum_type)?;
        let member = match serde_json::to_value(member) {
            Ok(Value::String(member)) => member,
            _ => {
                return Err(Error::invalid_input(format!(
                    "function parameter `{name}` is not a member name of `{enum_type}`"
                )));
            }
        };
        let mut value = enum_type.to_owned();
        member.as_str().write_literal(&mut value);
        self.push(name, value)
    }

    /// Adds an `Edm.Binary` parameter: `binary'<base64url>'`.
    pub fn with_binary(self, name: &str, bytes: &[u8]) -> Result<Self> {
        let value = format!(
            "binary'{}'",
            base64::engine::general_purpose::URL_SAFE.encode(bytes)
        );
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

/// A typed action or function: a request type generated for one operation of the metadata
/// (or written by hand) whose fields are the operation's parameters.
///
/// Run it with the method its [`Binding`](Operation::Binding) calls for:
/// [`Client::execute`] for [`Unbound`], [`Client::execute_bound`] for [`Bound<E>`] (one record
/// of `E`), [`Client::execute_bound_to_set`] for [`BoundToSet<E>`] (the entity set of `E`).
///
/// ```
/// use dynamics_client::operations::{Call, FunctionParameters, Operation, Unbound};
/// use dynamics_client::__private::serde::Deserialize;
///
/// /// `GET GetTimeZoneCodeByLocalizedName(LocalizedStandardName=@p1,LocaleId=@p2)`.
/// struct GetTimeZoneCode {
///     name: String,
///     locale: i32,
/// }
///
/// #[derive(Deserialize)]
/// #[serde(crate = "dynamics_client::__private::serde")]
/// struct TimeZoneCode {
///     #[serde(rename = "TimeZoneCode")]
///     code: i32,
/// }
///
/// impl Operation for GetTimeZoneCode {
///     const NAME: &'static str = "GetTimeZoneCodeByLocalizedName";
///     type Binding = Unbound;
///     type Response = TimeZoneCode;
///     fn call(&self) -> dynamics_client::Result<Call> {
///         let parameters = FunctionParameters::new()
///             .with("LocalizedStandardName", &self.name)?
///             .with("LocaleId", self.locale)?;
///         Ok(Call::function(parameters))
///     }
/// }
/// # async fn run(client: dynamics_client::Client) -> dynamics_client::Result<()> {
/// let zone = client
///     .execute(&GetTimeZoneCode { name: "Pacific Standard Time".into(), locale: 1033 })
///     .await?;
/// # let _ = zone.code;
/// # Ok(())
/// # }
/// ```
pub trait Operation: Sync {
    /// The operation's name as the URL carries it: the plain name of an unbound operation
    /// (`WhoAmI`; its `ActionImport`/`FunctionImport` name), the namespace-qualified name of a
    /// bound one (`Microsoft.Dynamics.CRM.new_CloseProject`; a plain name is qualified with
    /// `Microsoft.Dynamics.CRM.`).
    const NAME: &'static str;
    /// What the operation is bound to: [`Unbound`], [`Bound<E>`] or [`BoundToSet<E>`].
    type Binding;
    /// The decoded answer; `()` for an operation without a return type.
    type Response: DeserializeOwned + Send;
    /// Whether the service sends the answer as the body's `value` member, as it does for
    /// primitive, enum and collection return types, rather than as the body itself (complex
    /// and entity types). `false` unless set.
    const RESPONSE_IN_VALUE: bool = false;

    /// What goes on the wire: an action's JSON body or a function's parameters.
    fn call(&self) -> Result<Call>;
}

/// The [`Operation::Binding`] of an unbound operation, called at the service root.
#[derive(Debug)]
pub enum Unbound {}

/// The [`Operation::Binding`] of an operation bound to one record of `E`:
/// `<set>(<id>)/<NAME>`.
#[derive(Debug)]
pub struct Bound<E>(PhantomData<fn() -> E>, Unbound);

/// The [`Operation::Binding`] of an operation bound to the entity set of `E`:
/// `<set>/<NAME>`.
#[derive(Debug)]
pub struct BoundToSet<E>(PhantomData<fn() -> E>, Unbound);

/// One call of an [`Operation`], as [`Operation::call`] builds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call(CallKind);

#[derive(Clone, Debug, PartialEq, Eq)]
enum CallKind {
    /// `POST` with this JSON body.
    Action(Vec<u8>),
    /// `GET` with these parameters.
    Function(FunctionParameters),
}

impl Call {
    /// An action call: `POST` with `parameters` as the JSON body. A value that serializes to
    /// `null` (a unit struct: no parameters) is sent as `{}`.
    pub fn action<P: Serialize + ?Sized>(parameters: &P) -> Result<Self> {
        let mut body = serde_json::to_vec(parameters).map_err(|e| {
            Error::invalid_input(format!("could not serialize the action parameters: {e}"))
        })?;
        if body == b"null" {
            body = b"{}".to_vec();
        }
        Ok(Call(CallKind::Action(body)))
    }

    /// A function call: `GET` with `parameters` as aliases.
    pub fn function(parameters: FunctionParameters) -> Self {
        Call(CallKind::Function(parameters))
    }
}

/// An entity-typed action parameter naming an existing record, as action bodies take it:
/// `{"@odata.type": "Microsoft.Dynamics.CRM.<table>", "<primary key>": "<id>"}`. The type
/// annotation is what lets the service tell tables apart behind `crmbaseentity` parameters.
pub fn record_reference<E: Entity>(id: Uuid) -> Value {
    let mut record = serde_json::Map::new();
    record.insert(
        "@odata.type".to_owned(),
        Value::String(format!("{NAMESPACE}{}", E::LOGICAL_NAME)),
    );
    record.insert(E::PRIMARY_KEY.to_owned(), Value::String(id.to_string()));
    Value::Object(record)
}

/// An entity-typed function parameter naming a record, as parameter aliases take it:
/// `{"@odata.id": "<set>(<id>)"}`.
pub fn record_odata_id<E: Entity>(id: Uuid) -> Value {
    let mut record = serde_json::Map::new();
    record.insert("@odata.id".to_owned(), Value::String(record_path::<E>(id)));
    Value::Object(record)
}

/// The answer of an operation whose return type travels under `value`.
#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct InValue<T> {
    value: T,
}

/// Serializers for required operation parameters whose wire form is not serde's own: the
/// same forms as [`codec`](crate::typed::codec), without the `Option`. Used by generated code.
#[doc(hidden)]
pub mod required_codec {
    use rust_decimal::Decimal;
    use serde::Serializer;
    use time::{Date, OffsetDateTime};

    use crate::typed::codec;

    /// `Edm.Decimal` as a JSON number.
    pub fn decimal<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        codec::decimal::serialize(&Some(*value), serializer)
    }

    /// `Edm.DateTimeOffset` as RFC 3339 text.
    pub fn date_time<S: Serializer>(
        value: &OffsetDateTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        codec::date_time::serialize(&Some(*value), serializer)
    }

    /// `Edm.Date` as `YYYY-MM-DD`.
    pub fn date<S: Serializer>(value: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        codec::date::serialize(&Some(*value), serializer)
    }

    /// `Edm.Binary` as base64 text.
    pub fn binary<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(value))
    }
}

impl Client {
    /// Runs an unbound typed operation (`POST <NAME>` or `GET <NAME>(...)`), e.g. the
    /// generated `WhoAmI`: `client.execute(&WhoAmI).await?.user_id`.
    pub async fn execute<O>(&self, operation: &O) -> Result<O::Response>
    where
        O: Operation<Binding = Unbound>,
    {
        let path = unbound_name(O::NAME)?.to_owned();
        self.run_operation(path, operation).await
    }

    /// Runs a typed operation bound to the record `id` of `E`
    /// (`<set>(<id>)/Microsoft.Dynamics.CRM.<name>`).
    pub async fn execute_bound<O, E>(&self, id: Uuid, operation: &O) -> Result<O::Response>
    where
        O: Operation<Binding = Bound<E>>,
        E: Entity,
    {
        let path = format!("{}/{}", record_path::<E>(id), bound_name(O::NAME)?);
        self.run_operation(path, operation).await
    }

    /// Runs a typed operation bound to the entity set of `E`
    /// (`<set>/Microsoft.Dynamics.CRM.<name>`).
    pub async fn execute_bound_to_set<O, E>(&self, operation: &O) -> Result<O::Response>
    where
        O: Operation<Binding = BoundToSet<E>>,
        E: Entity,
    {
        let path = format!("{}/{}", E::ENTITY_SET_NAME, bound_name(O::NAME)?);
        self.run_operation(path, operation).await
    }

    async fn run_operation<O: Operation>(
        &self,
        mut path: String,
        operation: &O,
    ) -> Result<O::Response> {
        let body = match operation.call()?.0 {
            CallKind::Action(body) => self.send_operation(Method::POST, &path, Some(body)).await?,
            CallKind::Function(parameters) => {
                path.push_str(&parameters.to_call_suffix());
                self.send_operation(Method::GET, &path, None).await?
            }
        };
        // An operation without a return type answers `204 No Content`.
        if O::RESPONSE_IN_VALUE {
            Error::decode_json_or_null::<InValue<O::Response>>(&path, &body)
                .map(|answer| answer.value)
        } else {
            Error::decode_json_or_null(&path, &body)
        }
    }

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
        let body = serde_json::to_vec(body).map_err(|e| {
            Error::invalid_input(format!("could not serialize the parameters of {path}: {e}"))
        })?;
        let answer = self.send_operation(Method::POST, path, Some(body)).await?;
        Error::decode_json_or_null(path, &answer)
    }

    /// Sends an operation's request and returns the answer's body.
    async fn send_operation(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>> {
        let mut request = ApiRequest::to_path(method, path, "");
        if let Some(body) = body {
            request.body = Some(Body::Json(body));
            // An action may change data: never sent twice after an answer that may have come
            // after it ran.
            request.retry = RetryClass::NonIdempotent;
        }
        Ok(self.run(request).await?.body)
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
    fn typed_parameter_forms() {
        let params = FunctionParameters::new()
            .with_json("Target", &serde_json::json!({"@odata.id": "accounts(1)"}))
            .unwrap()
            .with_enum(
                "Filters",
                "Microsoft.Dynamics.CRM.EntityFilters",
                "Entity,It's",
            )
            .unwrap()
            .with_binary("Blob", &[0xfb, 0xff])
            .unwrap();
        assert_eq!(
            params.to_call_suffix(),
            "(Target=@p1,Filters=@p2,Blob=@p3)?@p1=%7B%22%40odata.id%22:%22accounts(1)%22%7D\
             &@p2=Microsoft.Dynamics.CRM.EntityFilters'Entity,It''s'&@p3=binary'-_8%3D'"
        );
        // An enum member must serialize to a name, and the type must be a name.
        assert!(FunctionParameters::new().with_enum("F", "T", &3).is_err());
        assert!(
            FunctionParameters::new()
                .with_enum("F", "T'x", "A")
                .is_err()
        );
    }

    #[test]
    fn action_calls_send_an_object() {
        assert_eq!(
            Call::action(&()).unwrap(),
            Call(CallKind::Action(b"{}".to_vec()))
        );
        assert_eq!(
            Call::action(&serde_json::json!({"A": 1})).unwrap(),
            Call(CallKind::Action(br#"{"A":1}"#.to_vec()))
        );
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

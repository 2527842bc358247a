//! Actions and functions declared in the metadata: bound (`/accounts(id)/Microsoft.Dynamics.CRM.X`,
//! `/accounts/Microsoft.Dynamics.CRM.X`) and unbound (`POST /X`, `GET /X(p=@p)?@p=...`), their
//! parameters checked against the CSDL, and their behaviour supplied by the test author.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use dynamics_codegen::csdl::{Metadata, OperationKind, TypeRef};
use serde_json::{Map, Value, json};

use super::protocol::{ApiRequest, ApiResponse, Prefer};
use super::read::View;
use super::{ApiError, WebApi};
use crate::odata::filter::parse_bare_literal;
use crate::odata::path::Key;
use crate::odata::query::Query;
use crate::odata::split_top_level;
use crate::schema::{Kind, Table};
use crate::store::Tables;
use crate::token::Caller;

/// What an action or function handler answers with when the call fails: a Dataverse-shaped
/// error (`{"error":{"code":..,"message":..}}`) with this status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ActionError {
    /// An error with an HTTP status (500 if `status` is not a valid one), a Dataverse error code
    /// such as `"0x80040265"`, and a message.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
        }
    }

    /// A `400` with the code Dataverse uses for a request it does not accept (`0x80040203`,
    /// invalid argument).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "0x80040203", message)
    }
}

/// One call of an action or function, as a handler sees it.
#[derive(Clone, Debug)]
pub struct OperationCall {
    /// The operation's name without namespace (`new_CloseProject`, `WhoAmI`).
    pub name: String,
    /// The bound record as `GET` returns it (no annotations), for an entity-bound operation.
    pub record: Option<Value>,
    /// The entity set of a bound operation.
    pub entity_set: Option<String>,
    /// The parameters: the action's JSON body, or the function's parameters as JSON values;
    /// the binding parameter is not among them.
    pub parameters: Map<String, Value>,
}

/// The behaviour of an action or function: the call in, the JSON answer (ignored for an
/// operation without a return type) or an error out.
pub type OperationHandler =
    Arc<dyn Fn(&OperationCall) -> Result<Value, ActionError> + Send + Sync + 'static>;

/// One parameter as declared.
struct Parameter {
    name: String,
    ty: TypeRef,
    required: bool,
}

/// One declared operation (overloads by binding type are kept apart).
pub(crate) struct Operation {
    name: String,
    function: bool,
    /// The binding parameter's type, for a bound operation.
    binding: Option<TypeRef>,
    parameters: Vec<Parameter>,
    /// The return type's qualified name, if any.
    returns: Option<String>,
}

/// The declared operations and the handlers registered for them.
#[derive(Default)]
pub(crate) struct Operations {
    declared: Vec<Operation>,
    /// Names of the unbound ones: every one-segment path is checked against them.
    unbound: HashSet<String>,
    handlers: HashMap<String, OperationHandler>,
}

/// How an operation was addressed.
pub(crate) struct Addressed<'a> {
    pub(crate) name: String,
    /// The inline parameters of a function (`p=@p,q=1`), when written.
    pub(crate) inline: Option<String>,
    pub(crate) table: Option<&'a Table>,
    pub(crate) key: Option<Key>,
}

impl Operations {
    pub(crate) fn new(metadata: &Metadata, handlers: Vec<(String, OperationHandler)>) -> Self {
        let declared = metadata
            .operations()
            .iter()
            .map(|op| {
                let skip = usize::from(op.is_bound);
                Operation {
                    name: op.name.clone(),
                    function: op.kind == OperationKind::Function,
                    binding: op.binding_type().cloned(),
                    parameters: op
                        .parameters
                        .iter()
                        .skip(skip)
                        .map(|p| Parameter {
                            name: p.name.clone(),
                            ty: p.ty.clone(),
                            required: !p.facets.nullable && !p.is_optional(),
                        })
                        .collect(),
                    returns: op.return_type.as_ref().map(|r| r.type_name.to_string()),
                }
            })
            .collect::<Vec<Operation>>();
        let unbound = declared
            .iter()
            .filter(|o| o.binding.is_none())
            .map(|o| o.name.clone())
            .collect();
        Self {
            declared,
            unbound,
            handlers: handlers.into_iter().collect(),
        }
    }

    /// Whether an unbound operation has this name (so a path segment names it, not a set).
    pub(crate) fn is_unbound(&self, name: &str) -> bool {
        self.unbound.contains(name)
    }
}

/// The short name of a `Microsoft.Dynamics.CRM.X` (or `mscrm.X`) segment.
pub(crate) fn bound_name(segment: &str) -> Option<&str> {
    segment
        .strip_prefix("Microsoft.Dynamics.CRM.")
        .or_else(|| segment.strip_prefix("mscrm."))
}

impl WebApi {
    /// Runs an action or function. `tables` is the store when the caller already holds its
    /// lock (a `$batch` change set); otherwise the store is read only to find the bound record,
    /// and the handler runs with no lock held.
    pub(super) fn invoke(
        &self,
        caller: &Caller,
        request: &ApiRequest,
        addressed: Addressed<'_>,
        tables: Option<&Tables>,
    ) -> Result<ApiResponse, ApiError> {
        let (operation, parameters) = self.checked_call(request, &addressed)?;
        let record = match (addressed.table, &addressed.key) {
            (Some(table), Some(key)) => Some(match tables {
                Some(tables) => self.bound_record(tables, table, key)?,
                None => self.bound_record(&self.store.read(), table, key)?,
            }),
            _ => None,
        };
        let call = OperationCall {
            name: operation.name.clone(),
            record,
            entity_set: addressed.table.map(|t| t.set.clone()),
            parameters,
        };
        let answer = match self.operations.handlers.get(&operation.name) {
            Some(handler) => handler(&call).map_err(|e| ApiError {
                status: e.status,
                code: e.code,
                message: e.message,
            })?,
            None if operation.name == "WhoAmI" => return Ok(self.who_am_i(caller)),
            None if operation.returns.is_none() => Value::Null,
            None => {
                return Err(ApiError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "0x80040216",
                    format!(
                        "The operation '{}' has no behaviour in this emulator; register one with EmulatorBuilder::action.",
                        operation.name
                    ),
                ));
            }
        };
        let Some(returns) = &operation.returns else {
            return Ok(ApiResponse::empty(StatusCode::NO_CONTENT));
        };
        let qualified = returns.replace("mscrm.", "Microsoft.Dynamics.CRM.");
        let body = match answer {
            Value::Object(mut map) => {
                map.entry("@odata.context")
                    .or_insert_with(|| json!(format!("{}$metadata#{qualified}", self.root)));
                Value::Object(map)
            }
            // A primitive or a collection comes back under `value`, as OData returns it.
            other => json!({
                "@odata.context": format!("{}$metadata#{qualified}", self.root),
                "value": other,
            }),
        };
        Ok(ApiResponse::json(StatusCode::OK, body))
    }

    /// The declared operation the path names, with its parameters read from the request and
    /// checked against the declaration.
    fn checked_call(
        &self,
        request: &ApiRequest,
        addressed: &Addressed<'_>,
    ) -> Result<(&Operation, Map<String, Value>), ApiError> {
        let operation = self.resolve(addressed)?;
        let expected = if operation.function {
            Method::GET
        } else {
            Method::POST
        };
        if request.method != expected {
            return Err(ApiError::method_not_allowed(request.method.as_str()));
        }
        let parameters = if operation.function {
            function_parameters(addressed.inline.as_deref(), &request.query)?
        } else {
            action_parameters(request)?
        };
        check_parameters(operation, &parameters)?;
        Ok((operation, parameters))
    }

    /// [`WebApi::checked_call`] for an action, returning its parameters.
    pub(super) fn checked_action(
        &self,
        request: &ApiRequest,
        addressed: &Addressed<'_>,
    ) -> Result<Map<String, Value>, ApiError> {
        self.checked_call(request, addressed).map(|(_, p)| p)
    }

    /// The bulk message the emulator runs itself for this call: one of the four, bound to an
    /// entity set, with no handler registered for it.
    pub(super) fn builtin_bulk(&self, addressed: &Addressed<'_>) -> Option<super::bulk::Message> {
        if addressed.table.is_none()
            || addressed.key.is_some()
            || self.operations.handlers.contains_key(&addressed.name)
        {
            return None;
        }
        super::bulk::Message::named(&addressed.name)
    }

    /// The declared operation the path names, fitting its binding.
    fn resolve(&self, addressed: &Addressed<'_>) -> Result<&Operation, ApiError> {
        let mut named = self
            .operations
            .declared
            .iter()
            .filter(|o| o.name == addressed.name)
            .peekable();
        if named.peek().is_none() {
            return Err(ApiError::no_segment(&addressed.name));
        }
        named
            .find(|o| match (&o.binding, addressed.table) {
                (None, None) => true,
                (Some(binding), Some(table)) => {
                    let collection = matches!(binding, TypeRef::Collection(_));
                    let bound_to = match binding.element() {
                        TypeRef::Entity(name) => name.as_str(),
                        _ => return false,
                    };
                    collection == addressed.key.is_none()
                        && self.schema.derives_from(&table.qualified_name, bound_to)
                }
                _ => false,
            })
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "The operation '{}' is not bound to what the request URI addresses.",
                    addressed.name
                ))
            })
    }

    fn bound_record(&self, tables: &Tables, table: &Table, key: &Key) -> Result<Value, ApiError> {
        let id = self.existing(tables, table, key)?;
        let record = tables
            .get(&table.set, &id)
            .ok_or_else(|| ApiError::record_missing(&table.logical_name, id))?;
        let prefer = Prefer::default();
        let view = View {
            api: self,
            tables,
            prefer: &prefer,
            // Only renders records: no `$filter` of the caller's request reads the user here.
            user: uuid::Uuid::nil(),
        };
        Ok(Value::Object(view.entity(
            table,
            id,
            record,
            &Query::default(),
        )?))
    }
}

/// An action's parameters: its JSON body (an empty body is no parameters).
fn action_parameters(request: &ApiRequest) -> Result<Map<String, Value>, ApiError> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    super::json_object(request)
}

/// A function's parameters from `(a=@p,b=1)`, aliases resolved from the query string.
fn function_parameters(inline: Option<&str>, query: &str) -> Result<Map<String, Value>, ApiError> {
    let aliases: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name.starts_with('@'))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let mut parameters = Map::new();
    for part in split_top_level(inline.unwrap_or_default(), ',') {
        if part.trim().is_empty() {
            continue;
        }
        let (name, text) = part.split_once('=').ok_or_else(|| {
            ApiError::bad_request(format!("The function parameter '{part}' has no value."))
        })?;
        let text = text.trim();
        let text = match text.strip_prefix('@') {
            Some(_) => aliases.get(text).map(String::as_str).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "The parameter alias '{text}' has no value in the query string."
                ))
            })?,
            None => text,
        };
        parameters.insert(name.trim().to_owned(), literal(text)?);
    }
    Ok(parameters)
}

/// A URL literal as JSON: `'text'` (with `''` escaping), a bare literal, or JSON (`{'@odata.id':
/// 'contacts(id)'}` as the Web API writes entity references, single quotes and all).
fn literal(text: &str) -> Result<Value, ApiError> {
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return Ok(json!(inner.replace("''", "'")));
    }
    if text.starts_with('{') || text.starts_with('[') {
        return serde_json::from_str(text)
            .or_else(|_| serde_json::from_str(&text.replace('\'', "\"")))
            .map_err(|_| ApiError::bad_request(format!("'{text}' is not a valid JSON value.")));
    }
    parse_bare_literal(text)
        .map(|l| l.to_json())
        .ok_or_else(|| ApiError::bad_request(format!("'{text}' is not a valid literal.")))
}

/// Every given parameter is declared and of its type; every required one is given.
fn check_parameters(
    operation: &Operation,
    parameters: &Map<String, Value>,
) -> Result<(), ApiError> {
    for (name, value) in parameters {
        if name.contains('@') {
            continue;
        }
        let declared = operation
            .parameters
            .iter()
            .find(|p| p.name == *name)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "The parameter '{name}' in the request payload is not a valid parameter for the operation '{}'.",
                    operation.name
                ))
            })?;
        if !fits(&declared.ty, value) {
            return Err(ApiError::bad_request(format!(
                "Cannot convert the value of parameter '{name}' of operation '{}' to the expected type.",
                operation.name
            )));
        }
    }
    if let Some(missing) = operation
        .parameters
        .iter()
        .find(|p| p.required && parameters.get(&p.name).is_none_or(Value::is_null))
    {
        return Err(ApiError::bad_request(format!(
            "Request message has unresolved parameters: the operation '{}' needs '{}'.",
            operation.name, missing.name
        )));
    }
    Ok(())
}

/// Whether a JSON value can be of a parameter type: primitives by the rule for columns, the
/// rest by their JSON shape.
fn fits(ty: &TypeRef, value: &Value) -> bool {
    if value.is_null() {
        return true;
    }
    match ty {
        TypeRef::Collection(_) => value.is_array(),
        TypeRef::Entity(_) | TypeRef::Complex(_) => value.is_object(),
        TypeRef::Primitive(_) => super::validate::accepts(Kind::of(ty), value),
        TypeRef::Enum(_) | TypeRef::Definition(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_function_literals_and_aliases() {
        let params = function_parameters(Some("Name=@p,Count=3,Flag=true"), "@p=%27O%27%27Neil%27")
            .unwrap_or_default();
        assert_eq!(params["Name"], "O'Neil");
        assert_eq!(params["Count"], 3);
        assert_eq!(params["Flag"], true);
        assert!(function_parameters(Some("Name=@missing"), "").is_err());
        assert!(function_parameters(Some("Name"), "").is_err());
        assert_eq!(
            literal("{'@odata.id':'contacts(1)'}").ok(),
            Some(json!({"@odata.id": "contacts(1)"}))
        );
    }
}

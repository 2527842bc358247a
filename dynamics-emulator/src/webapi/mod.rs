//! The Dataverse Web API (v9.2, also answering v9.0 and v9.1 URLs) under `/api/data/v9.2/`,
//! for every entity set of the metadata.

mod apply;
mod batch;
mod bulk;
mod changes;
mod choices;
mod duplicates;
mod error;
mod fetch;
mod files;
mod impersonate;
mod meta;
mod operations;
mod protocol;
mod read;
mod relate;
mod seed;
mod validate;
mod write;

pub(crate) use choices::ChoiceCatalog;
pub use duplicates::DuplicateRule;
pub(crate) use error::ApiError;
pub(crate) use files::DEFAULT_MAX_SIZE as DEFAULT_MAX_FILE_SIZE;
pub use operations::{ActionError, OperationCall, OperationHandler};
pub(crate) use protocol::{ApiRequest, ApiResponse};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use dynamics_codegen::csdl::Metadata;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::odata::path::{self, Key, Segment};
use crate::schema::{Column, Nav, Schema, Table};
use crate::store::{IndexedColumns, Record, Store, Tables};
use crate::token::Caller;

/// Bodies larger than this are refused (Dataverse's own limit is far lower for JSON).
const MAX_BODY: usize = 128 * 1024 * 1024;

/// A request's body, read once, up to [`MAX_BODY`]: the one read for every Web API request,
/// whether service protection prices it first or not.
pub(crate) async fn read_body(body: Body) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "0x80040216",
            "The request body is too large.",
        )
        .into_response()
    })
}

/// The users' entity set.
const USERS: &str = "systemusers";
/// The column of a user naming the application it is the application user of.
const APPLICATION_ID: &str = "applicationid";

/// The Web API of one environment.
pub(crate) struct WebApi {
    root: String,
    metadata_xml: String,
    pub(crate) schema: Schema,
    pub(crate) store: Store,
    organization_id: Uuid,
    business_unit_id: Uuid,
    /// The choices document, when one was given.
    choices: Option<ChoiceCatalog>,
    operations: operations::Operations,
    /// Written into every delta token, so that a token of another environment (or of an
    /// earlier run) is refused instead of being read against this store's versions.
    store_tag: String,
    /// The files of file and image columns, and unfinished uploads.
    files: files::Files,
    /// Duplicate detection rules, applied to writes that ask for them.
    duplicate_rules: duplicates::DuplicateRules,
}

/// What a path addresses.
enum Target<'a> {
    ServiceDocument,
    Metadata,
    WhoAmI,
    EntityDefinitions(Option<String>),
    /// `EntityDefinitions(key)/Attributes[(key)]/<cast>`.
    ChoiceAttributes {
        definition: String,
        attribute: Option<String>,
        cast: String,
    },
    GlobalOptionSets(Option<String>),
    Operation(operations::Addressed<'a>),
    Batch,
    Collection(&'a Table),
    Count(&'a Table),
    Entity(&'a Table, Key),
    Property(&'a Table, Key, &'a Column),
    /// `set(key)/column/$value`: the raw value.
    PropertyValue(&'a Table, Key, &'a Column),
    Navigation {
        table: &'a Table,
        key: Key,
        nav: &'a Nav,
        reference: bool,
        target_key: Option<Key>,
    },
    NavigationCount(&'a Table, Key, &'a Nav),
}

impl WebApi {
    pub(crate) fn new(
        base_url: &str,
        metadata_xml: String,
        metadata: &Metadata,
        organization_id: Uuid,
        choices: Option<ChoiceCatalog>,
        handlers: Vec<(String, OperationHandler)>,
    ) -> Self {
        let schema = Schema::new(metadata);
        let alternate_keys = schema
            .tables
            .values()
            .filter(|t| !t.alternate_keys.is_empty())
            .map(|t| {
                let keys = t
                    .alternate_keys
                    .iter()
                    .map(|parts| {
                        parts
                            .iter()
                            .map(|(_, p)| (p.clone(), t.column(p).map(|c| c.kind)))
                            .collect()
                    })
                    .collect();
                (t.set.clone(), keys)
            })
            .collect();
        // Every request with an app-only token looks its application user up by this column.
        let mut indexed = IndexedColumns::new();
        if schema
            .table(USERS)
            .is_some_and(|t| t.column(APPLICATION_ID).is_some())
        {
            indexed.insert(USERS.to_owned(), vec![APPLICATION_ID.to_owned()]);
        }
        Self {
            root: format!("{base_url}/api/data/v9.2/"),
            metadata_xml,
            schema,
            store: Store::new(alternate_keys, indexed),
            organization_id,
            business_unit_id: Uuid::new_v4(),
            choices,
            operations: operations::Operations::new(metadata, handlers),
            // Any 32 bits of a random id: two stores are told apart but for a 1 in 2^32 chance.
            store_tag: format!("{:08x}", Uuid::new_v4().as_u128() as u32),
            files: files::Files::new(files::DEFAULT_MAX_SIZE),
            duplicate_rules: duplicates::DuplicateRules::default(),
        }
    }

    /// Replaces the duplicate detection rules; each must name a table and columns of the
    /// metadata.
    pub(crate) fn set_duplicate_rules(&self, rules: Vec<DuplicateRule>) -> Result<(), String> {
        self.duplicate_rules.set(&self.schema, rules)
    }

    pub(crate) fn business_unit_id(&self) -> Uuid {
        self.business_unit_id
    }

    /// The `systemuserid` of the oldest application user whose `applicationid` is `app_id`
    /// (ASCII case ignored), if any: one index lookup, however many users there are.
    pub(crate) fn application_user(&self, app_id: &str) -> Option<Uuid> {
        let table = self.schema.table(USERS)?;
        // The id as a `GET` of the user shows it: `systemuserid`, else `ownerid`, each the
        // stored value of a column or, for a primary id that is no column, the record's id.
        let shown = |name: &str, id: Uuid, record: &Record| -> Option<Option<Uuid>> {
            if table.column(name).is_some() {
                let text = record.fields.get(name).and_then(Value::as_str);
                Some(text.and_then(|t| Uuid::parse_str(t).ok()))
            } else {
                (table.primary_id == name).then_some(Some(id))
            }
        };
        let tables = self.store.read();
        tables
            .find_text(USERS, APPLICATION_ID, app_id)
            .find_map(|(id, user)| {
                shown("systemuserid", id, user)
                    .or_else(|| shown("ownerid", id, user))
                    .flatten()
            })
    }

    /// `{root}{set}({id})`, as `OData-EntityId` and `@odata.id` carry it.
    pub(crate) fn entity_url(&self, set: &str, id: Uuid) -> String {
        format!("{}{set}({id})", self.root)
    }

    pub(crate) async fn handle(&self, caller: &Caller, request: Request<Body>) -> Response {
        let (parts, body) = request.into_parts();
        match read_body(body).await {
            Ok(body) => self.handle_read(caller, parts, body),
            Err(refused) => refused,
        }
    }

    /// [`handle`](Self::handle) for a request whose body was already read with [`read_body`].
    pub(crate) fn handle_read(
        &self,
        caller: &Caller,
        parts: axum::http::request::Parts,
        body: axum::body::Bytes,
    ) -> Response {
        // Code written for v9.0 and v9.1 keeps working against v9.2, as in Dataverse.
        let path = parts
            .uri
            .path()
            .strip_prefix("/api/data/")
            .unwrap_or_default();
        let (version, raw_path) = path.split_once('/').unwrap_or((path, ""));
        if !matches!(version, "v9.0" | "v9.1" | "v9.2") {
            return ApiError::no_segment(version).into_response();
        }
        let request = ApiRequest {
            method: parts.method,
            path: percent_decode_str(raw_path.trim_start_matches('/'))
                .decode_utf8_lossy()
                .into_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            headers: parts.headers,
            body,
        };
        let caller = match self.acting_as(caller, &request.headers) {
            Ok(caller) => caller,
            Err(error) => return error.into_api_for(&request.prefer()).into_response(),
        };
        if request.path == "$batch" {
            return self.batch(&caller, &request).into_response();
        }
        if let Some(response) = self.file_request(&request) {
            return response;
        }
        self.execute(&caller, &request).into_response()
    }

    /// Runs one request under the lock it needs.
    pub(crate) fn execute(&self, caller: &Caller, request: &ApiRequest) -> ApiResponse {
        // The path is resolved once, before any lock: operations read the store only to find a
        // bound record, so a handler runs unlocked.
        let result = self.target(&request.path).and_then(|target| match target {
            Target::Operation(addressed) => match self.builtin_bulk(&addressed) {
                Some(message) => {
                    self.bulk(caller, request, addressed, message, &mut self.store.write())
                }
                None => self.invoke(caller, request, addressed, None),
            },
            target if request.method == Method::GET => {
                self.read_at(caller, request, target, &self.store.read())
            }
            target => self.write_at(caller, request, target, &mut self.store.write()),
        });
        result.unwrap_or_else(|error| error.into_api_for(&request.prefer()))
    }

    fn target(&self, path: &str) -> Result<Target<'_>, ApiError> {
        let segments = path::segments(path).map_err(ApiError::bad_request)?;
        let Some(first) = segments.first() else {
            return Ok(Target::ServiceDocument);
        };
        if segments.len() == 1 && self.operations.is_unbound(&first.name) {
            return Ok(Target::Operation(operations::Addressed {
                name: first.name.clone(),
                inline: first.key.clone(),
                table: None,
                key: None,
            }));
        }
        match (first.name.as_str(), &first.key, segments.len()) {
            ("$metadata", None, 1) => return Ok(Target::Metadata),
            ("$batch", None, 1) => return Ok(Target::Batch),
            // `WhoAmI` takes no parameters, so it answers with or without the parentheses.
            ("WhoAmI", None, 1) => return Ok(Target::WhoAmI),
            ("WhoAmI", Some(k), 1) if k.is_empty() => return Ok(Target::WhoAmI),
            ("EntityDefinitions", key, 1) => return Ok(Target::EntityDefinitions(key.clone())),
            ("EntityDefinitions", Some(definition), 3) if segments[1].name == "Attributes" => {
                return Ok(Target::ChoiceAttributes {
                    definition: definition.clone(),
                    attribute: segments[1].key.clone(),
                    cast: segments[2].name.clone(),
                });
            }
            ("GlobalOptionSetDefinitions", key, 1) => {
                return Ok(Target::GlobalOptionSets(key.clone()));
            }
            _ => {}
        }
        let table = self
            .schema
            .table(&first.name)
            .ok_or_else(|| ApiError::no_segment(&first.name))?;
        let Some(key_text) = &first.key else {
            return match &segments[1..] {
                [] => Ok(Target::Collection(table)),
                [Segment { name, key: None }] if name == "$count" => Ok(Target::Count(table)),
                [Segment { name, key }] if operations::bound_name(name).is_some() => {
                    Ok(Target::Operation(operations::Addressed {
                        name: operations::bound_name(name).unwrap_or_default().to_owned(),
                        inline: key.clone(),
                        table: Some(table),
                        key: None,
                    }))
                }
                [other, ..] => Err(ApiError::no_segment(&other.name)),
            };
        };
        let key = path::parse_key(key_text).map_err(|_| bad_key(table))?;
        let Some(second) = segments.get(1) else {
            return Ok(Target::Entity(table, key));
        };
        let rest = &segments[2..];
        if let Some(name) = operations::bound_name(&second.name)
            && rest.is_empty()
        {
            return Ok(Target::Operation(operations::Addressed {
                name: name.to_owned(),
                inline: second.key.clone(),
                table: Some(table),
                key: Some(key),
            }));
        }
        if let Some(nav) = table.navs.get(&second.name) {
            let target_key = match &second.key {
                Some(k) => Some(path::parse_key(k).map_err(ApiError::bad_request)?),
                None => None,
            };
            let reference = match rest {
                [Segment { name, key: None }]
                    if name == "$count" && nav.collection && target_key.is_none() =>
                {
                    return Ok(Target::NavigationCount(table, key, nav));
                }
                [] => false,
                [Segment { name, key: None }] if name == "$ref" => true,
                [other, ..] => return Err(ApiError::no_segment(&other.name)),
            };
            return Ok(Target::Navigation {
                table,
                key,
                nav,
                reference,
                target_key,
            });
        }
        match (table.column(&second.name), &second.key, rest) {
            (Some(column), None, []) => Ok(Target::Property(table, key, column)),
            (Some(column), None, [Segment { name, key: None }]) if name == "$value" => {
                Ok(Target::PropertyValue(table, key, column))
            }
            _ => Err(ApiError::no_segment(&second.name)),
        }
    }

    /// The id a key stands for, when such a record exists.
    fn find(&self, tables: &Tables, table: &Table, key: &Key) -> Result<Option<Uuid>, ApiError> {
        let named = match key {
            Key::Id(id) => return Ok(tables.contains(&table.set, id).then_some(*id)),
            Key::Named(named) => named,
        };
        if let [(name, crate::odata::filter::Literal::Guid(id))] = named.as_slice()
            && (*name == table.key || *name == table.primary_id)
        {
            return Ok(tables.contains(&table.set, id).then_some(*id));
        }
        let key = alternate_key(table, named)?;
        let fields: Map<String, Value> = key
            .values
            .into_iter()
            .map(|(property, literal)| (property.to_owned(), literal.to_json()))
            .collect();
        Ok(tables.key_lookup(&table.set, key.number, &fields))
    }

    /// Like [`WebApi::find`], but a missing record is a 404.
    fn existing(&self, tables: &Tables, table: &Table, key: &Key) -> Result<Uuid, ApiError> {
        self.find(tables, table, key)?
            .ok_or_else(|| ApiError::record_missing(&table.logical_name, describe_key(key)))
    }
}

/// An alternate key named in a URL.
struct NamedKey<'k> {
    /// Its position in `Table::alternate_keys`; the store's key index is numbered the same way.
    number: usize,
    /// (property, value) pairs.
    values: Vec<(&'k str, &'k crate::odata::filter::Literal)>,
}

/// The alternate key `named` matches.
fn alternate_key<'k>(
    table: &'k Table,
    named: &'k [(String, crate::odata::filter::Literal)],
) -> Result<NamedKey<'k>, ApiError> {
    let matches = |parts: &[(String, String)]| {
        parts.len() == named.len()
            && parts
                .iter()
                .all(|(alias, _)| named.iter().any(|(n, _)| n == alias))
    };
    let (number, parts) = table
        .alternate_keys
        .iter()
        .enumerate()
        .find(|(_, parts)| matches(parts))
        .ok_or_else(|| bad_key(table))?;
    let values = parts
        .iter()
        .filter_map(|(alias, property)| {
            let literal = named.iter().find(|(n, _)| n == alias).map(|(_, l)| l)?;
            Some((property.as_str(), literal))
        })
        .collect();
    Ok(NamedKey { number, values })
}

fn bad_key(table: &Table) -> ApiError {
    ApiError::bad_request(format!(
        "The key in the request URI is not valid for resource '{0}'. Ensure that the names and number of key properties match the declared or alternate key properties for the resource '{0}'.",
        table.qualified_name
    ))
}

fn describe_key(key: &Key) -> String {
    match key {
        Key::Id(id) => id.to_string(),
        Key::Named(parts) => parts
            .iter()
            .map(|(n, l)| format!("{n}={}", l.to_json()))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// A JSON object body, or the Dataverse error for anything else.
fn json_object(request: &ApiRequest) -> Result<Map<String, Value>, ApiError> {
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "The request body is empty; a JSON object is expected.",
        ));
    }
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(ApiError::bad_request(format!("Invalid JSON. {e}"))),
    }
}

//! Loading seed records and reading the store back, for tests.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::read::View;
use super::relate::apply_lookups;
use super::validate::guid;
use super::{ApiError, WebApi};
use crate::odata::query::Query;
use crate::token::Caller;

impl WebApi {
    /// Loads seed records: `{"<set>": [{record}, ...]}`. Binds are applied after every record
    /// exists, so records may refer to each other in any order.
    pub(crate) fn seed(&self, caller: &Caller, json: &Value) -> Result<(), String> {
        let sets = json
            .as_object()
            .ok_or("seed data must be an object of entity sets")?;
        let mut tables = self.store.write();
        let mut binds = Vec::new();
        for (set, records) in sets {
            let table = self
                .schema
                .table(set)
                .ok_or_else(|| format!("unknown entity set '{set}'"))?;
            let records = records
                .as_array()
                .ok_or_else(|| format!("'{set}' must be an array of records"))?;
            for (i, record) in records.iter().enumerate() {
                let place = |e: ApiError| format!("{set}[{i}]: {}", e.message);
                let body = record
                    .as_object()
                    .ok_or_else(|| format!("{set}[{i}] is not an object"))?;
                let (plain, bind): (Map<String, Value>, Map<String, Value>) = body
                    .clone()
                    .into_iter()
                    .partition(|(k, _)| !k.ends_with("@odata.bind"));
                let id = match plain
                    .get(&table.key)
                    .or_else(|| plain.get(&table.primary_id))
                {
                    Some(value) => guid(table, value).map_err(place)?,
                    None => Uuid::new_v4(),
                };
                if tables.contains(&table.set, &id) {
                    return Err(format!("{set}[{i}]: a record with id {id} already exists"));
                }
                self.insert(caller, table, id, &plain, &[], &mut tables)
                    .map_err(place)?;
                binds.push((table, id, bind, format!("{set}[{i}]")));
            }
        }
        for (table, id, bind, place) in binds {
            let changes = self
                .changes(table, &bind, &tables)
                .map_err(|e| format!("{place}: {}", e.message))?;
            tables.update(&table.set, &id, |r| {
                apply_lookups(&mut r.fields, &mut r.lookups, changes.lookups);
            });
            for (nav, set, target) in changes.associations {
                self.associate_by_name(&mut tables, table, id, &nav, &set, target)
                    .map_err(|e| format!("{place}: {}", e.message))?;
            }
        }
        Ok(())
    }

    /// Creates the business unit, SYSTEM (`caller`) and one application user per registered app, as an
    /// environment has them, so owner lookups and `WhoAmI` point at real records.
    pub(crate) fn seed_principals(
        &self,
        caller: &Caller,
        apps: &[(String, Uuid)],
    ) -> Result<(), String> {
        let mut sets = Map::new();
        let mut add = |logical: &str, fields: Vec<(&str, Value)>| {
            if let Some(table) = self.schema.by_logical_name(logical) {
                let record: Map<String, Value> = fields
                    .into_iter()
                    .filter(|(name, _)| table.column(name).is_some())
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect();
                if let Value::Array(records) = sets
                    .entry(table.set.clone())
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    records.push(Value::Object(record));
                }
            }
        };
        add(
            "businessunit",
            vec![
                ("businessunitid", json!(self.business_unit_id())),
                ("name", json!("emulator")),
            ],
        );
        for (client_id, user_id) in apps {
            let mut fields = vec![
                ("systemuserid", json!(user_id)),
                ("fullname", json!(format!("# {client_id}"))),
                ("azureactivedirectoryobjectid", json!(user_id)),
                ("isdisabled", json!(false)),
            ];
            if Uuid::parse_str(client_id).is_ok() {
                fields.push(("applicationid", json!(client_id)));
            }
            add("systemuser", fields);
        }
        // Seeded records are owned by SYSTEM, which exists like the app users do.
        add(
            "systemuser",
            vec![
                ("systemuserid", json!(caller.user_id)),
                ("fullname", json!("SYSTEM")),
            ],
        );
        self.seed(caller, &Value::Object(sets))
    }

    /// A record as `GET` would return it, for reading the store back in tests.
    pub(crate) fn snapshot(&self, set: &str, id: Option<Uuid>) -> Option<Vec<Value>> {
        let table = self.schema.table(set)?;
        let tables = self.store.read();
        let prefer = super::protocol::Prefer {
            annotations: Some("*".into()),
            ..Default::default()
        };
        let view = View {
            api: self,
            tables: &tables,
            prefer: &prefer,
            // Only renders records: no `$filter` of the caller's request reads the user here.
            user: Uuid::nil(),
        };
        let query = Query::default();
        let rows = tables.rows(&table.set);
        Some(
            rows.into_iter()
                .filter(|(rid, _)| id.is_none_or(|id| id == *rid))
                .filter_map(|(rid, r)| view.entity(table, rid, r, &query).ok().map(Value::Object))
                .collect(),
        )
    }
}

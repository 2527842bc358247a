//! Change tracking, as Dataverse serves it to keep another system in step.
//!
//! A `GET` of an entity set with `Prefer: odata.track-changes` (a first sync) answers every
//! record and, on its last page, an `@odata.deltaLink`: `{set}?$select=…&$deltatoken=…`.
//! Following that link (a delta) answers the records created or changed since, as records in
//! change order, then the ones deleted since, as `$deletedEntity` entries, and a new delta
//! link. Only the `$select` of the first sync is allowed, and only on entity sets with the
//! `Org.OData.Capabilities.V1.ChangeTracking` capability.
//!
//! A delta token is `{version}!{tag}`: the store's change version when the sync's first page
//! was served, and eight hex digits naming this store, so that a token of another environment
//! (or of an earlier run) is refused rather than read against the wrong versions. Every page
//! of one sync reads up to that same version, which its next links carry; a change made while
//! the pages are read is newer, so the next delta reports it (again): at least once, never
//! lost. A `$deltatoken` (or a sync's next link) is served as such with or without the
//! `Prefer` header, since the link says what it is; `Preference-Applied` names only what the
//! request asked for.

use axum::http::{HeaderName, StatusCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::read::{View, unknown_property};
use super::{ApiError, ApiResponse, WebApi};
use crate::odata::query::{self, Query, SyncCursor, SyncStage};
use crate::schema::Table;
use crate::store::{FIRST_VERSION, Record};

/// One entry of a sync's answer.
enum Entry<'r> {
    /// A record, with the columns asked for.
    Record(Uuid, &'r Record),
    /// A record deleted since the delta token.
    Deleted(Uuid),
}

impl WebApi {
    /// The delta token of the store's change version `version`.
    fn delta_token(&self, version: u64) -> String {
        format!("{version}!{}", self.store_tag)
    }

    /// The change version a `$deltatoken` stands for: one this store has reached.
    fn token_version(&self, token: &str, current: u64) -> Result<u64, ApiError> {
        let invalid = |why: &str| {
            ApiError::bad_request(format!(
                "The $deltatoken '{token}' is not valid: {why}. Start a new sync without it."
            ))
        };
        let (version, tag) = token
            .split_once('!')
            .filter(|(v, _)| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| invalid("it is not a token this service issued"))?;
        if tag != self.store_tag {
            return Err(invalid(
                "it was issued by another environment or an earlier run of this one",
            ));
        }
        match version.parse::<u64>() {
            Ok(version) if (FIRST_VERSION..=current).contains(&version) => Ok(version),
            _ => Err(invalid(
                "it names a version this environment has not reached",
            )),
        }
    }

    /// `{root}{set}?$select=…` plus more options, as the links of a sync carry them.
    fn sync_link(&self, table: &Table, query: &Query, more: &[(&str, String)]) -> String {
        let mut options = Vec::new();
        if let Some(select) = &query.select {
            // The names are columns of the table (checked), so they need no encoding.
            options.push(format!("$select={}", select.join(",")));
        }
        for (name, value) in more {
            let value: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
            options.push(format!("{name}={value}"));
        }
        let separator = if options.is_empty() { "" } else { "?" };
        format!("{}{}{separator}{}", self.root, table.set, options.join("&"))
    }
}

impl View<'_> {
    /// A page of a first sync or of a delta of `table`.
    pub(super) fn changes(&self, table: &Table, query: &Query) -> Result<ApiResponse, ApiError> {
        if !table.change_tracking {
            return Err(ApiError::not_tracked(&table.logical_name));
        }
        let refused = [
            ("$filter", query.filter.is_some()),
            ("$orderby", !query.orderby.is_empty()),
            ("$expand", !query.expand.is_empty()),
            ("$top", query.top.is_some()),
            // Not in Dataverse's list, but a count has no meaning for a delta.
            ("$count", query.count),
            ("fetchXml", query.fetch_xml.is_some()),
        ];
        if let Some((option, _)) = refused.iter().find(|(_, given)| *given) {
            return Err(ApiError::not_with_tracking(option));
        }
        // Checked before any record is read: the delta link repeats the columns.
        for name in query.select.iter().flatten() {
            if table.column(name).is_none() {
                return Err(unknown_property(table, name));
            }
        }
        if query.skip.is_some() {
            return Err(bad_skiptoken());
        }
        let api = self.api;
        let current = self.tables.change_version();
        let since = match &query.delta_token {
            Some(token) => Some(api.token_version(token, current)?),
            None => None,
        };
        // A next link must belong to this sync: its kind, and a version between the token's
        // and the store's.
        if let Some(cursor) = query.sync
            && ((cursor.stage == SyncStage::Records) != since.is_none()
                || cursor.upto > current
                || since.is_some_and(|since| cursor.upto < since))
        {
            return Err(bad_skiptoken());
        }
        let upto = query.sync.map_or(current, |cursor| cursor.upto);
        let start = query.sync.map(|cursor| (cursor.stage, cursor.after));

        let all: Box<dyn Iterator<Item = ((SyncStage, u64), Entry<'_>)>> = match since {
            None => Box::new(
                self.tables
                    .rows(&table.set)
                    .into_iter()
                    .map(|(id, r)| ((SyncStage::Records, r.seq), Entry::Record(id, r))),
            ),
            Some(since) => {
                let changed = self.tables.changed_between(&table.set, since, upto);
                let deleted = self.tables.deleted_between(&table.set, since, upto);
                let changed = changed
                    .into_iter()
                    .map(|(id, r)| ((SyncStage::Changed, r.version), Entry::Record(id, r)));
                let deleted = deleted
                    .into_iter()
                    .map(|(id, v)| ((SyncStage::Deleted, v), Entry::Deleted(id)));
                Box::new(changed.chain(deleted))
            }
        };
        let page_size = self.page_size();
        // This page, and one more entry to tell whether another page follows.
        let mut entries: Vec<_> = all
            .filter(|(at, _)| start.is_none_or(|start| *at > start))
            .take(page_size + 1)
            .collect();
        let more = entries.len() > page_size;
        entries.truncate(page_size);

        let deleted_context = format!("{}$metadata#{}/$deletedEntity", api.root, table.set);
        let mut values = Vec::with_capacity(entries.len());
        for (_, entry) in &entries {
            values.push(match entry {
                Entry::Record(id, record) => Value::Object(self.entity(table, *id, record, query)?),
                Entry::Deleted(id) => json!({
                    "@odata.context": deleted_context,
                    "id": id,
                    "reason": "deleted",
                }),
            });
        }

        let suffix = if since.is_some() { "/$delta" } else { "" };
        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            json!(api.context(&table.set, query.select.as_deref(), suffix)),
        );
        body.insert("value".into(), Value::Array(values));
        let last = entries.last().map(|(at, _)| *at).filter(|_| more);
        match last {
            Some((stage, after)) => {
                let cursor = SyncCursor { upto, stage, after };
                let mut options = Vec::with_capacity(2);
                if let Some(since) = since {
                    options.push(("$deltatoken", api.delta_token(since)));
                }
                options.push(("$skiptoken", query::sync_skiptoken(cursor)));
                body.insert(
                    "@odata.nextLink".into(),
                    json!(api.sync_link(table, query, &options)),
                );
            }
            None => {
                let options = [("$deltatoken", api.delta_token(upto))];
                body.insert(
                    "@odata.deltaLink".into(),
                    json!(api.sync_link(table, query, &options)),
                );
            }
        }

        let mut response =
            self.with_preferences(ApiResponse::json(StatusCode::OK, Value::Object(body)));
        if self.prefer.track_changes {
            response = response.with_header(
                HeaderName::from_static("preference-applied"),
                "odata.track-changes",
            );
        }
        Ok(self.with_page_size_applied(response))
    }
}

fn bad_skiptoken() -> ApiError {
    ApiError::bad_request(
        "The $skiptoken is not valid for this change-tracking sync; follow @odata.nextLink unchanged.",
    )
}

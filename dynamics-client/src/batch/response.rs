//! A `$batch` reply read: each request's answer lined up with it (by `Content-ID` inside a
//! change set, by position outside), change sets rolled back as a whole, and the typed result of
//! each request read through its [`Handle`].

use std::time::SystemTime;

use super::multipart::{ReplyItem, WireReply};
use super::{Batch, Group, Handle};
use crate::client::status_error;
use crate::error::{BatchError, Error, Result, ThrottledError};
use crate::odata;

/// The answers to a batch, one per request, read with the request's [`Handle`].
#[derive(Debug)]
pub struct BatchResponse {
    pub(super) replies: Vec<Outcome>,
    pub(super) descriptions: Vec<String>,
    /// When the reply arrived, on the client's clock: a `Retry-After` date inside it counts
    /// from here, as the pipeline counts one on an answer of its own.
    pub(super) received: SystemTime,
}

#[derive(Debug)]
pub(super) enum Outcome {
    Replied(WireReply),
    NotRun(String),
    /// Rolled back with its change set, because the request at this index failed.
    RolledBack(usize),
}

impl BatchResponse {
    /// The result of one request: its value, or the error the service answered it with
    /// ([`Error::NotFound`], [`Error::ConcurrencyConflict`], [`Error::Throttled`],
    /// [`Error::Api`]), or [`BatchError::NotRun`] when the service did not run it, or
    /// [`BatchError::RolledBack`] when another request of its change set failed.
    pub fn get<T>(&self, handle: Handle<T>) -> Result<T> {
        let what = self
            .descriptions
            .get(handle.index)
            .map_or("request", String::as_str);
        let reply = self.reply(handle.index)?;
        (handle.decode)(reply, what)
    }

    /// HTTP status of each request's answer, in request order; `None` where the service did
    /// not run the request.
    pub fn statuses(&self) -> Vec<Option<u16>> {
        self.replies
            .iter()
            .map(|o| match o {
                Outcome::Replied(r) => Some(r.status),
                Outcome::NotRun(_) | Outcome::RolledBack(_) => None,
            })
            .collect()
    }

    /// The raw JSON body of a request's answer (empty for `204 No Content`), or its error.
    pub fn body(&self, index: usize) -> Result<&str> {
        self.reply(index).map(|r| r.body.as_str())
    }

    /// Number of requests answered for (the batch's length).
    pub fn len(&self) -> usize {
        self.replies.len()
    }

    /// Whether the batch had no request.
    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// Whether every request was run and succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.replies
            .iter()
            .all(|o| matches!(o, Outcome::Replied(r) if (200..300).contains(&r.status)))
    }

    /// The successful reply of request `index`, or its error.
    fn reply(&self, index: usize) -> Result<&WireReply> {
        match self.replies.get(index) {
            None => Err(Error::invalid_input(format!(
                "request {index} is not part of this batch of {}",
                self.replies.len()
            ))),
            Some(Outcome::NotRun(reason)) => Err(BatchError::NotRun {
                request: index,
                reason: reason.clone(),
            }
            .into()),
            Some(&Outcome::RolledBack(failed)) => Err(BatchError::RolledBack {
                request: index,
                failed,
            }
            .into()),
            Some(Outcome::Replied(reply)) if (200..300).contains(&reply.status) => Ok(reply),
            Some(Outcome::Replied(reply)) => Err(reply_error(reply, self.received)),
        }
    }

    /// The throttling answer to request `index`, when service protection refused it (so it
    /// may be sent again).
    pub(crate) fn throttled(&self, index: usize) -> Option<ThrottledError> {
        match self.replies.get(index)? {
            Outcome::Replied(reply) if !(200..300).contains(&reply.status) => {
                match reply_error(reply, self.received) {
                    Error::Throttled(t) => Some(*t),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// The typed error of an error reply inside a batch: its body is parsed once, its request id
/// and `Retry-After` read as the pipeline reads them from a response (a date against
/// `received`, the client clock's time when the batch's answer arrived).
fn reply_error(reply: &WireReply, received: SystemTime) -> Error {
    let mut api = odata::parse_api_error(reply.status, &Default::default(), reply.body.as_bytes());
    api.request_id = odata::REQUEST_ID_HEADERS
        .iter()
        .find_map(|name| reply.header(name))
        .map(str::to_owned);
    let limit = odata::throttle_limit(&api.code);
    if reply.status == 429 || limit.is_some() {
        let retry_after = reply
            .header("Retry-After")
            .and_then(|v| crate::retry::parse_retry_after(v, received));
        return ThrottledError {
            status: reply.status,
            attempts: 1,
            waited: std::time::Duration::ZERO,
            retry_after,
            limit,
            last: api,
        }
        .into();
    }
    status_error(api)
}

/// Lines the reply items up with the request items; what has no reply was not run.
pub(super) fn match_replies(batch: &Batch, replies: Vec<ReplyItem>) -> Result<Vec<Outcome>> {
    let groups: Vec<&Group> = batch
        .items
        .iter()
        .filter(|g| !matches!(g, Group::ChangeSet(m) if m.is_empty()))
        .collect();
    if replies.len() > groups.len() {
        return Err(BatchError::Mismatch(format!(
            "{} replies for {} requests and change sets",
            replies.len(),
            groups.len()
        ))
        .into());
    }
    let mut outcomes: Vec<Option<Outcome>> = (0..batch.requests.len()).map(|_| None).collect();
    let mut replies = replies.into_iter();
    for group in groups {
        let Some(reply) = replies.next() else { break };
        match (group, reply) {
            (Group::Single(i), ReplyItem::Single(reply)) => {
                outcomes[*i] = Some(Outcome::Replied(reply));
            }
            (Group::Single(i), ReplyItem::ChangeSet(_)) => {
                return Err(BatchError::Mismatch(format!(
                    "request {i} was sent alone but answered as a change set"
                ))
                .into());
            }
            (Group::ChangeSet(members), ReplyItem::ChangeSet(parts)) => {
                // A failed change set is answered by a change set holding the failing
                // response alone, with that request's Content-ID; the others were rolled back
                // and get no reply. ASP.NET OData, which Dataverse's $batch is:
                // https://github.com/OData/WebApi/blob/master/src/Microsoft.AspNetCore.OData/Batch/ChangeSetRequestItem.cs
                // and a real reply: https://github.com/MicrosoftDocs/powerapps-docs/issues/2843
                let lone_failure =
                    matches!(parts.as_slice(), [part] if !(200..300).contains(&part.status));
                if lone_failure && members.len() > 1 {
                    if let Some(failure) = parts.into_iter().next() {
                        roll_back(batch, members, failure, &mut outcomes);
                    }
                    continue;
                }
                if parts.len() != members.len() {
                    return Err(BatchError::Mismatch(format!(
                        "a change set of {} requests was answered with {} replies",
                        members.len(),
                        parts.len()
                    ))
                    .into());
                }
                for (position, part) in parts.into_iter().enumerate() {
                    // By Content-ID where echoed, else by position.
                    let index = part
                        .content_id
                        .as_deref()
                        .and_then(|id| member_with_content_id(batch, members, id))
                        .unwrap_or(members[position]);
                    outcomes[index] = Some(Outcome::Replied(part));
                }
            }
            // The OData 4.0 form of the same answer: the failing response alone, outside any
            // change set (OData 4.0 Protocol, 11.7.7.5).
            (Group::ChangeSet(members), ReplyItem::Single(failure)) => {
                roll_back(batch, members, failure, &mut outcomes);
            }
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                Outcome::NotRun(
                    "the batch stopped at an earlier failure (send it with continue_on_error to run the rest)".to_owned(),
                )
            })
        })
        .collect())
}

/// Records a failed change set: the failing member (found by Content-ID, else the first) gets
/// the service's answer, every other member is rolled back.
fn roll_back(
    batch: &Batch,
    members: &[usize],
    failure: WireReply,
    outcomes: &mut [Option<Outcome>],
) {
    let Some(&first) = members.first() else {
        return;
    };
    let failed = failure
        .content_id
        .as_deref()
        .and_then(|id| member_with_content_id(batch, members, id))
        .unwrap_or(first);
    for &index in members {
        outcomes[index] = Some(Outcome::RolledBack(failed));
    }
    outcomes[failed] = Some(Outcome::Replied(failure));
}

fn member_with_content_id(batch: &Batch, members: &[usize], id: &str) -> Option<usize> {
    let id: u32 = id.trim().parse().ok()?;
    members
        .iter()
        .copied()
        .find(|&i| batch.requests[i].content_id == Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Created;
    use crate::batch::tests::Account;
    use uuid::Uuid;

    fn reply(status: u16, content_id: Option<&str>) -> WireReply {
        WireReply {
            content_id: content_id.map(str::to_owned),
            status,
            headers: vec![(
                "OData-EntityId".into(),
                "https://org/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000007)".into(),
            )],
            body: if status >= 400 {
                r#"{"error":{"code":"0x80044331","message":"too long"}}"#.into()
            } else {
                String::new()
            },
        }
    }

    fn two_groups() -> (Batch, Created, Created, Handle<()>) {
        let mut batch = Batch::new();
        let (a, b) = {
            let mut cs = batch.change_set();
            let a = cs.create(&Account::default()).unwrap();
            let b = cs
                .create_linked(&Account::default(), &[("parentaccountid", a.reference)])
                .unwrap();
            (a, b)
        };
        let d = batch.delete::<Account>(Uuid::nil()).unwrap();
        (batch, a, b, d)
    }

    #[test]
    fn replies_are_matched_by_content_id() {
        let (batch, a, b, d) = two_groups();
        let replies = vec![
            ReplyItem::ChangeSet(vec![reply(204, Some("2")), reply(204, Some("1"))]),
            ReplyItem::Single(reply(404, None)),
        ];
        let outcomes = match_replies(&batch, replies).unwrap();
        let response = BatchResponse {
            replies: outcomes,
            descriptions: vec![String::new(); 3],
            received: SystemTime::UNIX_EPOCH,
        };
        assert_eq!(response.get(a.id).unwrap(), Uuid::from_u128(7));
        assert_eq!(response.get(b.id).unwrap(), Uuid::from_u128(7));
        assert!(matches!(response.get(d), Err(Error::NotFound(_))));
        assert_eq!(response.statuses(), [Some(204), Some(204), Some(404)]);
        assert!(!response.all_succeeded());
    }

    #[test]
    fn a_failed_change_set_rolls_back_and_stops_the_batch() {
        let (batch, a, b, d) = two_groups();
        let replies = vec![ReplyItem::Single(reply(400, Some("2")))];
        let response = BatchResponse {
            replies: match_replies(&batch, replies).unwrap(),
            descriptions: vec![String::new(); 3],
            received: SystemTime::UNIX_EPOCH,
        };
        let err = response.get(a.id).unwrap_err();
        assert!(
            matches!(&err, Error::Batch(e) if **e == BatchError::RolledBack { request: 0, failed: 1 }),
            "{err:?}"
        );
        let err = response.get(b.id).unwrap_err();
        assert!(
            matches!(&err, Error::Api(api) if api.code == "0x80044331"),
            "{err:?}"
        );
        let err = response.get(d).unwrap_err();
        assert!(
            err.to_string().contains("stopped at an earlier failure"),
            "{err}"
        );
    }

    /// Dataverse's shape: a change set reply holding the failing response alone, with its
    /// Content-ID (ASP.NET OData `ChangeSetRequestItem`).
    #[test]
    fn a_failed_change_set_answered_as_a_nested_change_set() {
        let (batch, a, b, d) = two_groups();
        let replies = vec![
            ReplyItem::ChangeSet(vec![reply(400, Some("2"))]),
            ReplyItem::Single(reply(204, None)),
        ];
        let response = BatchResponse {
            replies: match_replies(&batch, replies).unwrap(),
            descriptions: vec![String::new(); 3],
            received: SystemTime::UNIX_EPOCH,
        };
        let err = response.get(b.id).unwrap_err();
        assert!(
            matches!(&err, Error::Api(api) if api.code == "0x80044331" && api.status == 400),
            "the failing handle has the service's error: {err:?}"
        );
        let err = response.get(a.id).unwrap_err();
        assert!(
            matches!(&err, Error::Batch(e) if **e == BatchError::RolledBack { request: 0, failed: 1 }),
            "{err:?}"
        );
        assert!(err.to_string().contains("rolled back"), "{err}");
        // The rest of the batch is read as usual.
        assert!(response.get(d).is_ok());
        assert_eq!(response.statuses(), [None, Some(400), Some(204)]);
        // Without a Content-ID the failure is pinned on the first member.
        let (batch, a, b, _) = two_groups();
        let replies = vec![ReplyItem::ChangeSet(vec![reply(404, None)])];
        let response = BatchResponse {
            replies: match_replies(&batch, replies).unwrap(),
            descriptions: vec![String::new(); 3],
            received: SystemTime::UNIX_EPOCH,
        };
        assert!(matches!(response.get(a.id), Err(Error::NotFound(_))));
        assert!(matches!(
            response.get(b.id),
            Err(Error::Batch(e)) if *e == BatchError::RolledBack { request: 1, failed: 0 }
        ));
        // One successful reply for a change set of two is still a mismatch.
        let (batch, ..) = two_groups();
        let short = vec![ReplyItem::ChangeSet(vec![reply(204, Some("1"))])];
        assert!(match_replies(&batch, short).is_err());
    }

    #[test]
    fn mismatched_replies_are_errors() {
        let (batch, ..) = two_groups();
        let too_many = vec![
            ReplyItem::Single(reply(204, None)),
            ReplyItem::Single(reply(204, None)),
            ReplyItem::Single(reply(204, None)),
        ];
        assert!(matches!(
            match_replies(&batch, too_many),
            Err(Error::Batch(e)) if matches!(*e, BatchError::Mismatch(_))
        ));
        let short = vec![ReplyItem::ChangeSet(vec![reply(204, Some("1"))])];
        assert!(match_replies(&batch, short).is_err());
        let swapped = vec![
            ReplyItem::ChangeSet(vec![reply(204, Some("1")), reply(204, Some("2"))]),
            ReplyItem::ChangeSet(vec![reply(204, None)]),
        ];
        assert!(match_replies(&batch, swapped).is_err());
    }
}

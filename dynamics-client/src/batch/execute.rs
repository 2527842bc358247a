//! A `$batch` sent: the body written from the batch's request descriptions, one pipeline
//! request, and the reply read; throttled members hold their identity back.

use reqwest::Method;
use uuid::Uuid;

use super::multipart::{self, WireItem};
use super::response::{BatchResponse, match_replies};
use super::{Batch, Group};
use crate::client::Client;
use crate::error::{BatchError, Error, Result};
use crate::request::{ApiRequest, Body, Prefer, RetryClass};

impl Client {
    /// Sends a batch and reads its reply, one answer per request in request order.
    ///
    /// A request that failed is an error only when its own result is read: the batch as a
    /// whole succeeds when the service answered it. The service protection limits count a
    /// batch's requests one by one; a throttled batch is retried as any request is.
    pub async fn execute_batch(&self, batch: &Batch) -> Result<BatchResponse> {
        Ok(self.execute_batch_tracked(batch).await?.0)
    }

    /// [`execute_batch`](Self::execute_batch), also telling whether an earlier try of the
    /// batch may have taken effect before the one answered (its answer was lost).
    pub(crate) async fn execute_batch_tracked(
        &self,
        batch: &Batch,
    ) -> Result<(BatchResponse, bool)> {
        if batch.is_empty() {
            return Err(Error::invalid_input("a batch needs at least one request"));
        }
        let root = self.web_api_url().path().to_owned();
        let items: Vec<WireItem<'_>> = batch
            .items
            .iter()
            .filter_map(|group| match group {
                Group::Single(i) => Some(WireItem::Single(&batch.requests[*i].wire)),
                Group::ChangeSet(members) if members.is_empty() => None,
                Group::ChangeSet(members) => Some(WireItem::ChangeSet(
                    members
                        .iter()
                        .map(|i| {
                            let planned = &batch.requests[*i];
                            (planned.content_id.unwrap_or(0), &planned.wire)
                        })
                        .collect(),
                )),
            })
            .collect();
        let suffix = Uuid::new_v4().simple().to_string();
        let boundary = format!("batch_{suffix}");
        let body = multipart::write(&items, &root, &boundary, &suffix);

        let mut request = ApiRequest::to_path(Method::POST, "$batch", "$batch")
            .prefer(Prefer::default().continue_on_error(batch.continue_on_error));
        request.body = Some(Body::Other {
            bytes: body,
            content_type: format!("{}; boundary={boundary}", multipart::MULTIPART_MIXED),
        });
        // Creates without a chosen id must not run twice; reads, updates and deletes may.
        if batch.requests.iter().any(|p| p.wire.method == "POST") {
            request.retry = RetryClass::NonIdempotent;
        }
        let response = self.run(request).await?;
        let received = self.now();
        let content_type = response
            .headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let reply_boundary = multipart::boundary(content_type).ok_or_else(|| {
            BatchError::Malformed {
                line: 0,
                message: format!(
                    "the reply's Content-Type `{content_type}` is not multipart/mixed with a boundary"
                ),
            }
        })?;
        let text = std::str::from_utf8(&response.body).map_err(|e| BatchError::Malformed {
            line: 0,
            message: format!("the reply body is not UTF-8: {e}"),
        })?;
        let replies =
            multipart::parse(text, &reply_boundary, batch.requests.len()).map_err(|m| {
                BatchError::Malformed {
                    line: m.line,
                    message: m.message,
                }
            })?;
        let replies = match_replies(batch, replies)?;
        let descriptions = batch
            .requests
            .iter()
            .enumerate()
            .map(|(i, p)| format!("batch request {i} ({} {})", p.wire.method, p.wire.url))
            .collect();
        let reply = BatchResponse {
            replies,
            descriptions,
            received,
        };
        self.hold_back_for_throttled(&reply, response.identity);
        Ok((reply, response.earlier_attempt_unknown))
    }

    /// Closes the throttle gate for the longest wait among a batch's throttled requests: the
    /// service protection limits count a batch's requests one by one, and anything this client
    /// sends before that time extends the penalty, whether or not the caller sends those
    /// requests again. Unlike a throttled request on its own, which closes the gate before its
    /// concurrency slot is freed, this runs once the reply is parsed: a request already waiting
    /// for a slot may go out in between.
    fn hold_back_for_throttled(&self, reply: &BatchResponse, identity: usize) {
        let longest = (0..reply.replies.len())
            .filter_map(|i| reply.throttled(i))
            .map(|t| {
                (
                    t.retry_after.unwrap_or(self.retry_policy().initial_delay),
                    t,
                )
            })
            .max_by_key(|(wait, _)| *wait);
        if let Some((wait, throttled)) = longest {
            tracing::debug!(
                delay_ms = wait.as_millis() as u64,
                "requests of a batch were throttled; holding back"
            );
            self.hold_back(identity, wait, &throttled.last, throttled.limit);
        }
    }
}

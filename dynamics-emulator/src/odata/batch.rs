//! The `multipart/mixed` body of `$batch`: parsing requests and change sets out of it, and
//! writing the `batchresponse`/`changesetresponse` reply.

use axum::http::StatusCode;

/// One request inside a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Part {
    pub(crate) content_id: Option<String>,
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

/// A top-level batch item: a lone request, or an atomic change set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    Single(Part),
    ChangeSet(Vec<Part>),
}

/// The `boundary` parameter of a `multipart/mixed` content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// Splits a multipart body into its parts (each still with its headers).
fn parts<'a>(body: &'a str, boundary: &str) -> Result<Vec<&'a str>, String> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    let start = rest
        .find(&delimiter)
        .ok_or_else(|| format!("The batch body has no '{delimiter}' delimiter."))?;
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with("--") {
            return Ok(parts);
        }
        let end = rest
            .find(&format!("\n{delimiter}"))
            .ok_or_else(|| format!("The batch body does not end with '{delimiter}--'."))?;
        parts.push(rest[..end].trim_end_matches('\r'));
        rest = &rest[end + 1 + delimiter.len()..];
    }
}

/// Splits a header block from what follows the first empty line.
fn headers_and_body(text: &str) -> (Vec<(String, String)>, &str) {
    let text = text.trim_start_matches(['\r', '\n']);
    let (head, body) = match (text.find("\r\n\r\n"), text.find("\n\n")) {
        (Some(a), Some(b)) if b < a => (&text[..b], &text[b + 2..]),
        (Some(a), _) => (&text[..a], &text[a + 4..]),
        (None, Some(b)) => (&text[..b], &text[b + 2..]),
        (None, None) => (text, ""),
    };
    let headers = head
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect();
    (headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads one `application/http` part.
fn request(part: &str) -> Result<Part, String> {
    let (mime_headers, http) = headers_and_body(part);
    let http = http.trim_start_matches(['\r', '\n']);
    let (request_line, rest) = http.split_once('\n').unwrap_or((http, ""));
    let mut words = request_line.split_whitespace();
    let (Some(method), Some(url)) = (words.next(), words.next()) else {
        return Err(format!(
            "'{}' is not an HTTP request line.",
            request_line.trim()
        ));
    };
    let (headers, body) = headers_and_body(rest);
    Ok(Part {
        content_id: header(&mime_headers, "Content-ID")
            .or_else(|| header(&headers, "Content-ID"))
            .map(str::to_owned),
        method: method.to_ascii_uppercase(),
        url: url.to_owned(),
        headers,
        body: body.trim_end_matches(['\r', '\n']).to_owned(),
    })
}

/// Parses a `$batch` body sent with `content_type`.
pub(crate) fn parse(content_type: &str, body: &str) -> Result<Vec<Item>, String> {
    let outer = boundary(content_type)
        .ok_or("A $batch request needs 'Content-Type: multipart/mixed; boundary=...'.")?;
    let mut items = Vec::new();
    for part in parts(body, &outer)? {
        let (headers, inner) = headers_and_body(part);
        let content_type = header(&headers, "Content-Type").unwrap_or_default();
        if let Some(changeset) = boundary(content_type) {
            let requests = parts(inner, &changeset)?
                .into_iter()
                .map(request)
                .collect::<Result<Vec<_>, _>>()?;
            items.push(Item::ChangeSet(requests));
        } else {
            items.push(Item::Single(request(part)?));
        }
    }
    Ok(items)
}

/// One reply inside the batch reply.
#[derive(Clone, Debug)]
pub(crate) struct ReplyPart {
    pub(crate) content_id: Option<String>,
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

/// A top-level reply item.
#[derive(Clone, Debug)]
pub(crate) enum ReplyItem {
    Single(ReplyPart),
    ChangeSet(Vec<ReplyPart>),
}

fn write_part(out: &mut String, part: &ReplyPart) {
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = &part.content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    out.push_str(&format!(
        "\r\nHTTP/1.1 {} {}\r\n",
        part.status.as_u16(),
        part.status.canonical_reason().unwrap_or("")
    ));
    for (name, value) in &part.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&part.body);
    out.push_str("\r\n");
}

/// Writes the reply body; `boundary` is the outer `batchresponse_...` boundary.
pub(crate) fn write(items: &[ReplyItem], boundary: &str) -> String {
    let mut out = String::new();
    for item in items {
        out.push_str(&format!("--{boundary}\r\n"));
        match item {
            ReplyItem::Single(part) => write_part(&mut out, part),
            ReplyItem::ChangeSet(parts) => {
                let inner = format!("changesetresponse_{}", uuid::Uuid::new_v4());
                out.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary={inner}\r\n\r\n"
                ));
                for part in parts {
                    out.push_str(&format!("--{inner}\r\n"));
                    write_part(&mut out, part);
                }
                out.push_str(&format!("--{inner}--\r\n"));
            }
        }
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "--batch_1\r\n\
Content-Type: multipart/mixed; boundary=\"changeset_a\"\r\n\
\r\n\
--changeset_a\r\n\
Content-Type: application/http\r\n\
Content-Transfer-Encoding: binary\r\n\
Content-ID: 1\r\n\
\r\n\
POST /api/data/v9.2/accounts HTTP/1.1\r\n\
Content-Type: application/json; type=entry\r\n\
\r\n\
{\"name\":\"a\"}\r\n\
--changeset_a\r\n\
Content-Type: application/http\r\n\
Content-ID: 2\r\n\
\r\n\
PATCH $1 HTTP/1.1\r\n\
Content-Type: application/json\r\n\
\r\n\
{\"name\":\"b\"}\r\n\
--changeset_a--\r\n\
--batch_1\r\n\
Content-Type: application/http\r\n\
Content-Transfer-Encoding: binary\r\n\
\r\n\
GET accounts?$select=name HTTP/1.1\r\n\
Accept: application/json\r\n\
\r\n\
\r\n\
--batch_1--\r\n";

    #[test]
    fn parses_change_sets_and_singles() {
        let items = parse("multipart/mixed; boundary=batch_1", BODY).unwrap_or_default();
        assert_eq!(items.len(), 2);
        let Item::ChangeSet(parts) = &items[0] else {
            panic!("{items:?}");
        };
        assert_eq!(parts[0].content_id.as_deref(), Some("1"));
        assert_eq!(parts[0].method, "POST");
        assert_eq!(parts[0].body, "{\"name\":\"a\"}");
        assert_eq!(parts[1].url, "$1");
        let Item::Single(get) = &items[1] else {
            panic!("{items:?}");
        };
        assert_eq!(get.url, "accounts?$select=name");
        assert_eq!(get.body, "");
        // The same body with bare LF line ends.
        let lf = BODY.replace("\r\n", "\n");
        assert_eq!(
            parse("multipart/mixed;boundary=\"batch_1\"", &lf).unwrap_or_default(),
            items
        );
    }

    #[test]
    fn rejects_malformed_bodies() {
        assert!(parse("application/json", BODY).is_err());
        assert!(parse("multipart/mixed; boundary=other", BODY).is_err());
        assert!(parse("multipart/mixed; boundary=batch_1", "--batch_1\r\nno end").is_err());
        let bad_line = "--b\r\nContent-Type: application/http\r\n\r\nNONSENSE\r\n--b--";
        assert!(parse("multipart/mixed; boundary=b", bad_line).is_err());
    }

    #[test]
    fn writes_nested_replies() {
        let part = |id: Option<&str>| ReplyPart {
            content_id: id.map(str::to_owned),
            status: StatusCode::NO_CONTENT,
            headers: vec![("OData-EntityId".into(), "x".into())],
            body: String::new(),
        };
        let text = write(
            &[
                ReplyItem::ChangeSet(vec![part(Some("1"))]),
                ReplyItem::Single(part(None)),
            ],
            "batchresponse_z",
        );
        assert!(text.starts_with(
            "--batchresponse_z\r\nContent-Type: multipart/mixed; boundary=changesetresponse_"
        ));
        assert!(
            text.contains("Content-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\nOData-EntityId: x\r\n")
        );
        assert!(text.ends_with("--batchresponse_z--\r\n"));
    }
}

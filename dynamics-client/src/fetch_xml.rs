//! FetchXML queries: `GET <set>?fetchXml=<encoded>`, typed into the table's records, paged with
//! the paging cookie (`@Microsoft.Dynamics.CRM.fetchxmlpagingcookie` and `…morerecords`).

use futures::stream::{self, Stream};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::page::Page;
use crate::paging;
use crate::request::{ApiRequest, Prefer};

const PAGING_COOKIE: &str = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie";
const MORE_RECORDS: &str = "Microsoft.Dynamics.CRM.morerecords";

/// A FetchXML document whose root `<fetch>` element's attributes can be rewritten for paging.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FetchDocument {
    /// Attributes of `<fetch>`, values as written (still XML-escaped).
    attributes: Vec<(String, String)>,
    /// Everything after the `<fetch ...` attributes, from its `>` or `/>` on.
    rest: String,
}

impl FetchDocument {
    /// Reads the root `<fetch>` start tag and checks that the queried `<entity>` is `table`.
    fn parse(xml: &str, table: &str) -> Result<Self> {
        let text = xml.trim_start();
        let after = text
            .strip_prefix("<fetch")
            .filter(|r| r.starts_with([' ', '\t', '\r', '\n', '>', '/']))
            .ok_or_else(|| {
                Error::invalid_input("a FetchXML query must start with its `<fetch` element")
            })?;
        let (attributes, used) = parse_attributes(after, "fetch")?;
        let rest = after[used..].to_owned();
        let entity = rest.find("<entity").ok_or_else(|| {
            Error::invalid_input("the FetchXML query has no `<entity name=\"...\">` element")
        })?;
        let (entity_attributes, _) = parse_attributes(&rest[entity + "<entity".len()..], "entity")?;
        let name = entity_attributes
            .iter()
            .find(|(n, _)| n == "name")
            .map(|(_, v)| unescape(v));
        if name.as_deref() != Some(table) {
            return Err(Error::invalid_input(format!(
                "the FetchXML query is on `{}`, not on `{table}`",
                name.unwrap_or_default()
            )));
        }
        Ok(FetchDocument { attributes, rest })
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, name: &str, value: &str) {
        let escaped = escape(value);
        match self.attributes.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = escaped,
            None => self.attributes.push((name.to_owned(), escaped)),
        }
    }

    /// The page number asked for (1 when not set).
    fn page(&self) -> Result<u32> {
        match self.attribute("page") {
            None => Ok(1),
            Some(text) => text.trim().parse().map_err(|_| {
                Error::invalid_input(format!("the FetchXML page `{text}` is not a number"))
            }),
        }
    }

    fn to_xml(&self) -> String {
        let mut out = String::from("<fetch");
        for (name, value) in &self.attributes {
            out.push_str(&format!(" {name}=\"{value}\""));
        }
        out.push_str(&self.rest);
        out
    }
}

/// Parses `name="value"` pairs up to the end of a start tag; returns them and how many bytes
/// were read (the tag's `>` or `/>` is not consumed).
fn parse_attributes(text: &str, element: &str) -> Result<(Vec<(String, String)>, usize)> {
    let bad = |what: &str| Error::invalid_input(format!("FetchXML `<{element}>`: {what}"));
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut attributes = Vec::new();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i) {
            None => return Err(bad("the start tag is not closed")),
            Some(b'>') | Some(b'/') => return Ok((attributes, i)),
            Some(_) => {}
        }
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'-' | b':' | b'.'))
        {
            i += 1;
        }
        if start == i {
            return Err(bad("an attribute name is expected"));
        }
        let name = &text[start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            return Err(bad(&format!("attribute `{name}` has no `=`")));
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let quote = match bytes.get(i) {
            Some(q @ (b'"' | b'\'')) => *q,
            _ => return Err(bad(&format!("the value of `{name}` is not quoted"))),
        };
        let value_start = i + 1;
        let value_end = text[value_start..]
            .find(quote as char)
            .map(|n| value_start + n)
            .ok_or_else(|| bad(&format!("the value of `{name}` is not closed")))?;
        let value = &text[value_start..value_end];
        if value.contains('<') {
            return Err(bad(&format!("the value of `{name}` contains `<`")));
        }
        if attributes.iter().any(|(n, _)| n == name) {
            return Err(bad(&format!("attribute `{name}` is given twice")));
        }
        // Kept as written, but always re-quoted with `"`.
        let value = if quote == b'\'' {
            value.replace('"', "&quot;")
        } else {
            value.to_owned()
        };
        attributes.push((name.to_owned(), value));
        i = value_end + 1;
    }
}

fn escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn unescape(value: &str) -> String {
    value
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The next page's `paging-cookie` from a `<cookie pagenumber=".." pagingcookie=".." />`
/// annotation: its `pagingcookie` attribute, URL-decoded twice (Dataverse encodes it twice).
fn paging_cookie(annotation: &str) -> Result<Option<String>> {
    let text = annotation.trim();
    let Some(after) = text.strip_prefix("<cookie") else {
        return Err(Error::invalid_input(format!(
            "the paging cookie `{annotation}` is not a `<cookie .../>` element"
        )));
    };
    let (attributes, _) = parse_attributes(after, "cookie")?;
    let Some((_, raw)) = attributes.iter().find(|(n, _)| n == "pagingcookie") else {
        return Ok(None);
    };
    let once = percent_decode_str(&unescape(raw))
        .decode_utf8()
        .map_err(|e| Error::invalid_input(format!("the paging cookie is not UTF-8: {e}")))?
        .into_owned();
    let twice = percent_decode_str(&once)
        .decode_utf8()
        .map_err(|e| Error::invalid_input(format!("the paging cookie is not UTF-8: {e}")))?
        .into_owned();
    Ok(Some(twice))
}

#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct FetchBody<T> {
    value: Vec<T>,
    #[serde(rename = "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie", default)]
    cookie: Option<String>,
    #[serde(rename = "@Microsoft.Dynamics.CRM.morerecords", default)]
    more: bool,
}

impl Client {
    /// Runs a FetchXML query on `T`'s table and returns one page of records. FetchXML
    /// results leave out null columns, so every field of `T` must be optional.
    ///
    /// The query's `<entity name>` must be `T`'s logical name. For the pages after it, use
    /// [`fetch_xml_pages`](Self::fetch_xml_pages); for rows that are not plain records
    /// (linked columns, aggregates), [`fetch_xml_as`](Self::fetch_xml_as).
    pub async fn fetch_xml<T: Entity>(&self, fetch_xml: &str) -> Result<Page<T>> {
        self.fetch_xml_as::<T, T>(fetch_xml).await
    }

    /// Runs a FetchXML query on `E`'s table and decodes each row as `R`: for queries whose
    /// rows are more than `E`'s records, such as columns of a `<link-entity alias="pc">`
    /// (`"pc.fullname"`, or the attribute's own alias) or an `aggregate="true"` query (one
    /// property per attribute alias).
    ///
    /// ```no_run
    /// # async fn run(client: dynamics_client::Client) -> dynamics_client::Result<()> {
    /// # #[derive(serde::Serialize, serde::Deserialize)]
    /// # struct Account { accountid: Option<uuid::Uuid> }
    /// # impl dynamics_client::Entity for Account {
    /// #     const LOGICAL_NAME: &'static str = "account";
    /// #     const ENTITY_SET_NAME: &'static str = "accounts";
    /// #     const PRIMARY_KEY: &'static str = "accountid";
    /// #     fn id(&self) -> Option<uuid::Uuid> { self.accountid }
    /// # }
    /// #[derive(serde::Deserialize)]
    /// struct Totals {
    ///     industrycode: Option<i32>,
    ///     total: Option<f64>,
    /// }
    /// let page = client
    ///     .fetch_xml_as::<Account, Totals>(
    ///         r#"<fetch aggregate="true"><entity name="account">
    ///              <attribute name="industrycode" alias="industrycode" groupby="true"/>
    ///              <attribute name="revenue" alias="total" aggregate="sum"/>
    ///            </entity></fetch>"#,
    ///     )
    ///     .await?;
    /// # let _ = page.items.iter().map(|t| (t.industrycode, t.total));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn fetch_xml_as<E: Entity, R: DeserializeOwned>(
        &self,
        fetch_xml: &str,
    ) -> Result<Page<R>> {
        let document = FetchDocument::parse(fetch_xml, E::LOGICAL_NAME)?;
        let (page, _) = self.fetch_xml_page::<E, R>(&document).await?;
        Ok(page)
    }

    /// Every page of a FetchXML query: the `<fetch>` element's `page` is counted up from its
    /// value (or 1) and the paging cookie of each answer is sent back with the next request,
    /// until the service says there are no more records. Set `count` on `<fetch>` for the
    /// page size (5,000 at most).
    pub fn fetch_xml_pages<'a, T: Entity + 'a>(
        &'a self,
        fetch_xml: &str,
    ) -> impl Stream<Item = Result<Page<T>>> + Send + 'a {
        self.fetch_xml_pages_as::<T, T>(fetch_xml)
    }

    /// Every page of a FetchXML query on `E`'s table, each row decoded as `R` (see
    /// [`fetch_xml_as`](Self::fetch_xml_as) and [`fetch_xml_pages`](Self::fetch_xml_pages)).
    pub fn fetch_xml_pages_as<'a, E: Entity + 'a, R: DeserializeOwned + Send + 'a>(
        &'a self,
        fetch_xml: &str,
    ) -> impl Stream<Item = Result<Page<R>>> + Send + 'a {
        let first = FetchDocument::parse(fetch_xml, E::LOGICAL_NAME);
        stream::try_unfold(Some(first), move |next| async move {
            let Some(document) = next else {
                return Ok(None);
            };
            let document = document?;
            let (page, following) = self.fetch_xml_page::<E, R>(&document).await?;
            Ok(Some((page, following.map(Ok))))
        })
    }

    /// Every record of a FetchXML query, one page held at a time.
    pub fn fetch_xml_stream<'a, T: Entity + 'a>(
        &'a self,
        fetch_xml: &str,
    ) -> impl Stream<Item = Result<T>> + Send + 'a {
        paging::records(self.fetch_xml_pages(fetch_xml))
    }

    /// One page, and the document for the next page when the service says there is one.
    async fn fetch_xml_page<E: Entity, R: DeserializeOwned>(
        &self,
        document: &FetchDocument,
    ) -> Result<(Page<R>, Option<FetchDocument>)> {
        let mut url = self.url(E::ENTITY_SET_NAME)?;
        let xml = document.to_xml();
        url.set_query(Some(&format!(
            "fetchXml={}",
            utf8_percent_encode(&xml, NON_ALPHANUMERIC)
        )));
        let request = ApiRequest::at(Method::GET, url, E::ENTITY_SET_NAME)
            .prefer(Prefer::default().annotations(format!("{PAGING_COOKIE},{MORE_RECORDS}")));
        let response = self.run(request).await?;
        let body: FetchBody<R> = Error::decode_json(
            &format!("{} FetchXML page", E::ENTITY_SET_NAME),
            &response.body,
        )?;
        let next = if body.more {
            let mut next = document.clone();
            let page = document.page()?;
            next.set("page", &(page + 1).to_string());
            if let Some(cookie) = body
                .cookie
                .as_deref()
                .map(paging_cookie)
                .transpose()?
                .flatten()
            {
                next.set("paging-cookie", &cookie);
            }
            Some(next)
        } else {
            None
        };
        Ok((Page::new(body.value), next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FETCH: &str = r#"<fetch count='2' mapping="logical">
  <entity name="account"><attribute name="name"/><filter><condition attribute="name" operator="like" value="A&amp;%"/></filter></entity>
</fetch>"#;

    #[test]
    fn rewrites_only_the_root_attributes() {
        let mut doc = FetchDocument::parse(FETCH, "account").unwrap();
        assert_eq!(doc.page().unwrap(), 1);
        doc.set("page", "2");
        doc.set(
            "paging-cookie",
            r#"<cookie page="1"><accountid last="{X}" first="{Y}" /></cookie>"#,
        );
        assert_eq!(
            doc.to_xml(),
            "<fetch count=\"2\" mapping=\"logical\" page=\"2\" paging-cookie=\"&lt;cookie page=&quot;1&quot;&gt;&lt;accountid last=&quot;{X}&quot; first=&quot;{Y}&quot; /&gt;&lt;/cookie&gt;\">\n  <entity name=\"account\"><attribute name=\"name\"/><filter><condition attribute=\"name\" operator=\"like\" value=\"A&amp;%\"/></filter></entity>\n</fetch>"
        );
        assert_eq!(doc.page().unwrap(), 2);
    }

    #[test]
    fn refuses_other_tables_and_broken_roots() {
        let err = FetchDocument::parse(FETCH, "contact").unwrap_err();
        assert!(err.to_string().contains("not on `contact`"), "{err}");
        for bad in [
            "<fetchx/>",
            "<query/>",
            "<fetch count=2><entity name='account'/></fetch>",
            "<fetch count='2'",
            "<fetch a='1' a='2'><entity name='account'/></fetch>",
            "<fetch><attribute/></fetch>",
            "<fetch page='x'><entity name='account'/></fetch>",
        ] {
            let parsed = FetchDocument::parse(bad, "account").and_then(|d| d.page().map(|_| d));
            assert!(matches!(parsed, Err(Error::InvalidInput(_))), "{bad}");
        }
    }

    #[test]
    fn paging_cookie_is_decoded_twice() {
        let annotation = "<cookie pagenumber=\"2\" pagingcookie=\"%253ccookie%2520page%253d%25221%2522%253e%253caccountid%2520last%253d%2522%257bA%257d%2522%2520%252f%253e%253c%252fcookie%253e\" istracking=\"False\" />";
        assert_eq!(
            paging_cookie(annotation).unwrap().as_deref(),
            Some("<cookie page=\"1\"><accountid last=\"{A}\" /></cookie>")
        );
        assert_eq!(paging_cookie("<cookie pagenumber=\"2\" />").unwrap(), None);
        assert!(paging_cookie("nonsense").is_err());
    }
}

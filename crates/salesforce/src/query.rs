//! SOQL queries, page by page: `query` (or `queryAll`) and then every
//! `nextRecordsUrl`, holding one page at a time. A query too long for a URL
//! (Salesforce takes 16,384 bytes) goes in the body of a `/composite`
//! subrequest instead, before or after Salesforce answers 414.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{Body, Call, Client};
use super::{Result, SalesforceError};

/// The longest URL Salesforce takes.
const MAX_URL_BYTES: usize = 16_384;

/// One page of a query's answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryResponse {
    total_size: u64,
    #[serde(default)]
    next_records_url: Option<String>,
    records: Vec<Value>,
}

/// The pages of a query, fetched one at a time.
#[derive(Debug)]
pub struct QueryPages {
    client: Client,
    next: Option<Next>,
    total_size: Option<u64>,
}

#[derive(Debug)]
enum Next {
    First { soql: String, include_deleted: bool },
    Url(String),
}

impl Client {
    /// The pages of `soql`; `include_deleted` uses queryAll.
    pub fn query_pages(&self, soql: &str, include_deleted: bool) -> QueryPages {
        QueryPages {
            client: self.clone(),
            next: Some(Next::First {
                soql: soql.to_owned(),
                include_deleted,
            }),
            total_size: None,
        }
    }

    /// Every record of `soql`, as one JSON array of at most `max_bytes`
    /// bytes; more is `GUST_RESULT_TOO_LARGE`. Only one page of records is
    /// held as values at a time.
    pub async fn query_json(
        &self,
        soql: &str,
        include_deleted: bool,
        max_bytes: usize,
    ) -> Result<String> {
        let mut pages = self.query_pages(soql, include_deleted);
        let mut text = String::from("[");
        while let Some(page) = pages.next_page().await {
            for record in page? {
                if text.len() > 1 {
                    text.push(',');
                }
                text.push_str(&record.to_string());
                if text.len() >= max_bytes {
                    return Err(SalesforceError::new(
                        0,
                        "GUST_RESULT_TOO_LARGE",
                        format!(
                            "the query's {} records do not fit in {max_bytes} bytes: select fewer fields or records (LIMIT), or read them in pages",
                            pages.total_size.unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        text.push(']');
        Ok(text)
    }

    async fn first_page(&self, soql: &str, include_deleted: bool) -> Result<QueryResponse> {
        let resource = if include_deleted {
            "/queryAll"
        } else {
            "/query"
        };
        let call = Call::new(Method::GET, self.data_path(resource)).query("q", soql);
        if self.url_len(&call).await? > MAX_URL_BYTES {
            return self.query_in_body(&call).await;
        }
        match self.send(&call).await {
            Err(error) if error.status == 414 => self.query_in_body(&call).await,
            answer => answer?.json(),
        }
    }

    /// Sends the GET `call` as the one subrequest of a `/composite` call,
    /// whose URL travels in the body.
    async fn query_in_body(&self, call: &Call) -> Result<QueryResponse> {
        // The subrequest's URL is the path and query the GET would have had.
        let url = self.url(call, "http://instance")?;
        let subrequest = format!("{}?{}", url.path(), url.query().unwrap_or_default());
        let body = json!({
            "allOrNone": false,
            "compositeRequest": [
                { "method": "GET", "url": subrequest, "referenceId": "query" }
            ]
        });
        let composite =
            Call::new(Method::POST, self.data_path("/composite")).body(Body::json(&body));
        let answer: Value = self.send(&composite).await?.json()?;
        let result = &answer["compositeResponse"][0];
        let status = result["httpStatusCode"].as_u64().unwrap_or(0) as u16;
        if !(200..300).contains(&status) {
            return Err(SalesforceError::from_response(
                status,
                result["body"].to_string().as_bytes(),
            ));
        }
        serde_json::from_value(result["body"].clone()).map_err(|error| {
            SalesforceError::bad_response(
                status,
                format!("the query's answer is not a query result: {error}"),
            )
        })
    }
}

impl QueryPages {
    /// The next page's records; `None` after the last page.
    pub async fn next_page(&mut self) -> Option<Result<Vec<Value>>> {
        let next = self.next.take()?;
        let response = match next {
            Next::First {
                soql,
                include_deleted,
            } => self.client.first_page(&soql, include_deleted).await,
            Next::Url(url) => match self.client.send(&Call::new(Method::GET, url)).await {
                Ok(answer) => answer.json(),
                Err(error) => Err(error),
            },
        };
        Some(response.map(|page| {
            self.total_size = Some(page.total_size);
            self.next = page.next_records_url.map(Next::Url);
            page.records
        }))
    }

    /// The query's `totalSize`, once the first page has come.
    pub fn total_size(&self) -> Option<u64> {
        self.total_size
    }
}

/// A REST record without the `attributes` of it, its parent records and the
/// records of its child subqueries, its fields in the order selected.
pub fn without_attributes(mut record: Value) -> Value {
    match &mut record {
        Value::Object(fields) => {
            fields.shift_remove("attributes");
            for value in fields.values_mut() {
                *value = without_attributes(value.take());
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = without_attributes(item.take());
            }
        }
        _ => {}
    }
    record
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::without_attributes;

    #[test]
    fn rest_records_lose_their_attributes_at_every_level_in_their_order() {
        let record = json!({
            "attributes": { "type": "Contact", "url": "/x" },
            "Id": "0035g00000A1b2CEAR",
            "Account": { "attributes": { "type": "Account" }, "Name": "Acme" },
            "Owner": null,
            "Cases": { "totalSize": 1, "records": [{ "attributes": { "type": "Case" }, "Subject": "Hi" }] },
        });
        let stripped = without_attributes(record);
        assert_eq!(
            stripped,
            json!({ "Id": "0035g00000A1b2CEAR", "Account": { "Name": "Acme" }, "Owner": null,
                    "Cases": { "totalSize": 1, "records": [{ "Subject": "Hi" }] } })
        );
        let keys: Vec<&String> = stripped.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["Id", "Account", "Owner", "Cases"]);
    }
}

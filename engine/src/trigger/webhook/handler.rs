//! Who may call a webhook, and the event a request becomes.

use axum::http::{HeaderMap, Method, Uri, header};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use gust_salesforce::SecretRef;

use super::WebhookTrigger;

/// The header carrying the body's HMAC-SHA256 signature, hex encoded and
/// optionally prefixed with `sha256=`.
pub const SIGNATURE_HEADER: &str = "x-gust-signature";
/// The header whose value dedupes events.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// The longest `Idempotency-Key`, in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

/// Why a request is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    /// No or the wrong bearer secret or signature.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A secret the trigger names is not set on the server.
    #[error("the webhook's secret is not available on the server: {0}")]
    MissingSecret(String),
    /// The body does not parse as its content type says.
    #[error("{0}")]
    BadBody(String),
    /// The body is not text.
    #[error("the body is not UTF-8 text; send JSON, a form or text")]
    Binary,
    /// The idempotency key is too long.
    #[error("the Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY_BYTES} bytes")]
    LongIdempotencyKey,
}

/// Checks the bearer secret and the signature the trigger requires.
pub(crate) fn authorize(
    trigger: &WebhookTrigger,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Refusal> {
    if let Some(secret) = &trigger.secret {
        let secret = read_secret(secret)?;
        let presented = bearer_token(headers).ok_or(Refusal::Unauthorized(
            "this webhook needs `Authorization: Bearer <secret>`",
        ))?;
        if !same_secret(presented, &secret) {
            return Err(Refusal::Unauthorized("the bearer secret is wrong"));
        }
    }
    if let Some(key) = &trigger.hmac_secret {
        let key = read_secret(key)?;
        let signature = headers
            .get(SIGNATURE_HEADER)
            .and_then(|value| value.to_str().ok())
            .ok_or(Refusal::Unauthorized(
                "this webhook needs an `X-Gust-Signature: sha256=<hex HMAC-SHA256 of the body>` header",
            ))?;
        let signature = signature.strip_prefix("sha256=").unwrap_or(signature);
        let signature = hex::decode(signature)
            .map_err(|_| Refusal::Unauthorized("the signature is not hex"))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
            .map_err(|_| Refusal::MissingSecret("the signing key is unusable".to_owned()))?;
        mac.update(body);
        mac.verify_slice(&signature)
            .map_err(|_| Refusal::Unauthorized("the signature does not match the body"))?;
    }
    Ok(())
}

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// Whether a presented secret is the expected one, compared in constant
/// time.
pub(crate) fn same_secret(presented: &str, expected: &str) -> bool {
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// The hex HMAC-SHA256 of `body` under `key`, as callers send it.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn read_secret(secret: &SecretRef) -> Result<String, Refusal> {
    secret
        .read()
        .map_err(|error| Refusal::MissingSecret(error.to_string()))
}

/// The request's `Idempotency-Key`, if it sent one.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let key = String::from_utf8_lossy(value.as_bytes()).into_owned();
    if key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        return Err(Refusal::LongIdempotencyKey);
    }
    Ok(Some(key))
}

/// The event for a request.
pub(crate) fn event(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Refusal> {
    let mut header_map = Map::new();
    for (name, value) in headers {
        if name == header::AUTHORIZATION {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        insert_repeated(&mut header_map, name.as_str(), value);
    }
    let query = uri
        .query()
        .map_or_else(Map::new, |query| fields(query.as_bytes()));
    let mut event = Map::new();
    event.insert("method".to_owned(), Value::String(method.to_string()));
    event.insert("path".to_owned(), Value::String(uri.path().to_owned()));
    event.insert("query".to_owned(), Value::Object(query));
    event.insert("headers".to_owned(), Value::Object(header_map));
    event.insert("body".to_owned(), parse_body(headers, body)?);
    Ok(Value::Object(event))
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Refusal> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if content_type == "application/json" || content_type.ends_with("+json") {
        return serde_json::from_slice(body)
            .map_err(|error| Refusal::BadBody(format!("the body is not valid JSON: {error}")));
    }
    if content_type == "application/x-www-form-urlencoded" {
        return Ok(Value::Object(fields(body)));
    }
    std::str::from_utf8(body)
        .map(|text| Value::String(text.to_owned()))
        .map_err(|_| Refusal::Binary)
}

/// URL-encoded fields as an object; a name given more than once becomes an
/// array of its values.
fn fields(encoded: &[u8]) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, value) in form_urlencoded::parse(encoded) {
        insert_repeated(&mut map, &name, value.into_owned());
    }
    map
}

/// Inserts `name: value`; a name already present becomes an array of its
/// values, in order.
fn insert_repeated(map: &mut Map<String, Value>, name: &str, value: String) {
    let value = Value::String(value);
    match map.get_mut(name) {
        Some(Value::Array(values)) => values.push(value),
        Some(first) => *first = Value::Array(vec![first.take(), value]),
        None => {
            map.insert(name.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_form_body_becomes_fields_and_repeated_names_become_arrays() {
        let uri: Uri = "/hooks/wf?source=web&tag=a&tag=b".parse().unwrap();
        let headers = headers(&[
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("authorization", "Bearer hidden"),
            ("x-trace", "1"),
            ("x-trace", "2"),
        ]);
        let event = event(
            &Method::POST,
            &uri,
            &headers,
            b"Email=a%40b.com&Company=Acme+Inc",
        )
        .unwrap();
        assert_eq!(
            event,
            json!({
                "method": "POST",
                "path": "/hooks/wf",
                "query": {"source": "web", "tag": ["a", "b"]},
                "headers": {"content-type": "application/x-www-form-urlencoded; charset=utf-8", "x-trace": ["1", "2"]},
                "body": {"Email": "a@b.com", "Company": "Acme Inc"}
            })
        );
    }

    #[test]
    fn bodies_follow_their_content_type() {
        let uri: Uri = "/hooks/wf".parse().unwrap();
        let json_headers = headers(&[("content-type", "application/vnd.api+json")]);
        assert_eq!(
            event(&Method::POST, &uri, &json_headers, b"[1]").unwrap()["body"],
            json!([1])
        );
        let error = event(&Method::POST, &uri, &json_headers, b"{\"a\":").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the body is not valid JSON: EOF"),
            "{error}"
        );
        assert_eq!(
            event(&Method::POST, &uri, &HeaderMap::new(), b"plain").unwrap()["body"],
            json!("plain")
        );
        assert_eq!(
            event(&Method::POST, &uri, &HeaderMap::new(), b"").unwrap()["body"],
            Value::Null
        );
        assert!(matches!(
            event(&Method::POST, &uri, &HeaderMap::new(), &[0xff, 0xfe]),
            Err(Refusal::Binary)
        ));
    }

    #[test]
    fn signatures_are_checked_over_the_exact_body() {
        let trigger = WebhookTrigger {
            hmac_secret: Some(SecretRef::File(write_secret("k3y\n"))),
            ..WebhookTrigger::default()
        };
        let body = br#"{"a":1}"#;
        let good = sign(b"k3y", body);
        assert!(authorize(&trigger, &headers(&[(SIGNATURE_HEADER, &good)]), body).is_ok());
        let bare = good.trim_start_matches("sha256=").to_owned();
        assert!(authorize(&trigger, &headers(&[(SIGNATURE_HEADER, &bare)]), body).is_ok());
        assert!(matches!(
            authorize(
                &trigger,
                &headers(&[(SIGNATURE_HEADER, &good)]),
                br#"{"a":2}"#
            ),
            Err(Refusal::Unauthorized(_))
        ));
        assert!(matches!(
            authorize(&trigger, &HeaderMap::new(), body),
            Err(Refusal::Unauthorized(_))
        ));
    }

    #[test]
    fn a_bearer_secret_must_match_exactly() {
        let trigger = WebhookTrigger {
            secret: Some(SecretRef::File(write_secret("s3cret"))),
            ..WebhookTrigger::default()
        };
        assert!(
            authorize(
                &trigger,
                &headers(&[("authorization", "Bearer s3cret")]),
                b""
            )
            .is_ok()
        );
        for wrong in ["Bearer s3cre", "Bearer s3cret2", "s3cret", "Basic s3cret"] {
            assert!(
                matches!(
                    authorize(&trigger, &headers(&[("authorization", wrong)]), b""),
                    Err(Refusal::Unauthorized(_))
                ),
                "{wrong}"
            );
        }
        let missing = WebhookTrigger {
            secret: Some(SecretRef::Env("GUST_TEST_SECRET_THAT_IS_NOT_SET".into())),
            ..WebhookTrigger::default()
        };
        assert!(matches!(
            authorize(&missing, &HeaderMap::new(), b""),
            Err(Refusal::MissingSecret(_))
        ));
    }

    fn write_secret(text: &str) -> String {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        let (_, path) = file.keep().unwrap();
        path.to_string_lossy().into_owned()
    }
}

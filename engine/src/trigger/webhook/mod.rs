//! The webhook trigger: `POST /hooks/{workflow_id}`, who may call it, and
//! the event a request becomes.
//!
//! The event is `{"method", "path", "query", "headers", "body"}`: header
//! names in lower case, the `Authorization` header left out, the body parsed
//! by its content type (JSON; a form as an object of fields; anything else
//! as text; an empty body as `null`).

mod config;
mod handler;
mod route;

pub use config::{Respond, WebhookTrigger};
pub use handler::{IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY_BYTES, SIGNATURE_HEADER, sign};
pub(crate) use handler::{bearer_token, same_secret};
pub(crate) use route::{installation_webhook, installation_webhook_with_token, webhook as route};

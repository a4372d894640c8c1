//! The run inspector: server-rendered pages over the engine, served by
//! `gust serve` at `/` and mountable by an embedding service
//! ([`Engine::inspector`]). No JavaScript build: HTML from `maud`, one
//! stylesheet and a little plain JavaScript embedded in the binary.
//!
//! When the server has an admin token (always, beyond loopback) a visitor
//! signs in with it; the session is a signed HttpOnly, SameSite=Strict
//! cookie, and every form that changes something carries the session's
//! CSRF token (`session.rs`). No secret is ever rendered.

mod connections;
mod event;
mod filters;
mod installations;
mod layout;
mod live;
mod overview;
mod recent;
mod run;
mod runs;
mod session;
mod triggers;

use axum::Router;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;

use crate::Engine;
use crate::model::now;
use crate::trigger::webhook::same_secret;
use layout::{Context, Section, page};
use session::{COOKIE, Session, Sessions};

/// What the inspector's handlers share.
#[derive(Clone)]
struct Inspector {
    engine: Engine,
    sessions: Sessions,
}

impl Engine {
    /// The run inspector's pages, for `gust serve` to serve at `/` or an
    /// embedding service to nest under a path of its own (links follow the
    /// path it is nested at).
    pub fn inspector(&self) -> Router {
        let inspector = Inspector {
            engine: self.clone(),
            sessions: Sessions::new(self.config().admin_token.as_deref()),
        };
        let pages = Router::new()
            .route("/", get(overview::show))
            .route("/runs", get(runs::show))
            .route("/triggers", get(triggers::show))
            .route("/connections", get(connections::show))
            .route("/connections/{id}/reconnect", post(connections::reconnect))
            .route("/installations", get(installations::show))
            .route("/runs/live", get(live::runs))
            .route("/runs/replay", post(runs::replay_selected))
            .route("/runs/{run_id}", get(run::show))
            .route("/runs/{run_id}/live", get(live::run))
            .route("/runs/{run_id}/json", get(run::download))
            .route("/runs/{run_id}/replay", post(run::replay))
            .route("/runs/{run_id}/resume", post(run::resume))
            .route("/logout", post(logout))
            .route_layer(middleware::from_fn_with_state(
                inspector.clone(),
                require_session,
            ));
        Router::new()
            .merge(pages)
            .route("/login", get(login_page).post(login))
            .route("/assets/inspector.css", get(stylesheet))
            .route("/assets/inspector.js", get(script))
            .with_state(inspector)
    }
}

/// The path the inspector is mounted at: what the original URI's path has
/// before the path the inspector's router sees.
fn base(original: &Uri, seen: &Uri) -> String {
    let original = original.path();
    let seen = seen.path();
    let base = original.strip_suffix(seen).unwrap_or("");
    base.trim_end_matches('/').to_owned()
}

/// The visitor's session from its cookie, if it holds a valid one.
fn session_of(inspector: &Inspector, headers: &HeaderMap) -> Option<Session> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE)
        .find_map(|(_, value)| inspector.sessions.check(value, now()))
}

/// The `Set-Cookie` header of `session` for the inspector at `base`.
fn session_cookie(
    inspector: &Inspector,
    session: &Session,
    base: &str,
    secure: bool,
) -> HeaderValue {
    let value = format!(
        "{COOKIE}={}; Path={}/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        inspector.sessions.cookie_value(session),
        base,
        session.max_age(now()),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&value).expect("a cookie of hex and digits is a header value")
}

/// Whether the visitor reached the server over HTTPS (a proxy says so).
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// Lets a visitor with a session through, with its [`Context`]. Without
/// one: when no login is needed a session is started (for its CSRF
/// token); otherwise a page sends the visitor to sign in, and anything
/// else is refused.
async fn require_session(
    State(inspector): State<Inspector>,
    OriginalUri(original): OriginalUri,
    mut request: Request,
    next: Next,
) -> Response {
    let base = base(&original, request.uri());
    let (session, started) = match session_of(&inspector, request.headers()) {
        Some(session) => (session, false),
        None if !inspector.sessions.login_required() => (inspector.sessions.start(now()), true),
        None if request.method() == axum::http::Method::GET => {
            let back = original
                .path_and_query()
                .map(|path| path.as_str().to_owned())
                .unwrap_or_default();
            let to = format!(
                "{base}/login?next={}",
                form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
            );
            return Redirect::to(&to).into_response();
        }
        None => {
            return (
                StatusCode::UNAUTHORIZED,
                "sign in to the inspector first (its session has ended)",
            )
                .into_response();
        }
    };
    let secure = over_https(request.headers());
    request.extensions_mut().insert(Context {
        base: base.clone(),
        csrf: inspector.sessions.csrf(&session),
        signed_in: inspector.sessions.login_required(),
    });
    request.extensions_mut().insert(session.clone());
    let mut response = next.run(request).await;
    if started {
        response.headers_mut().append(
            header::SET_COOKIE,
            session_cookie(&inspector, &session, &base, secure),
        );
    }
    response
}

/// A form that changes something: its CSRF token.
#[derive(Debug, Deserialize)]
struct Guarded {
    #[serde(default)]
    csrf: String,
}

/// The refusal of a form whose CSRF token is not its session's, if it is
/// not.
fn csrf_refusal(inspector: &Inspector, session: &Session, form: &Guarded) -> Option<Response> {
    (!inspector.sessions.csrf_matches(session, &form.csrf)).then(|| {
        (
            StatusCode::FORBIDDEN,
            "this form's CSRF token is missing or not this session's: reload the page and send it again",
        )
            .into_response()
    })
}

/// Where to go after signing in: a path of this site, else the overview.
#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// `next` if it is a path on this site (not `//host` or a URL).
fn local_path(next: Option<&str>, base: &str) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => format!("{base}/"),
    }
}

fn login_form(base: &str, next: &str, problem: Option<&str>) -> Markup {
    let context = Context {
        base: base.to_owned(),
        csrf: String::new(),
        signed_in: false,
    };
    page(
        &context,
        Section::None,
        "Sign in",
        html! {
            form.login method="post" action=(context.link("/login")) {
                h1 { "Sign in to the inspector" }
                p.muted { "With this server's admin token (" code { "GUST_ADMIN_TOKEN" } ")." }
                @if let Some(problem) = problem { p.error role="alert" { (problem) } }
                input type="hidden" name="next" value=(next);
                label { "Admin token " input type="password" name="token" autocomplete="current-password" required autofocus; }
                button type="submit" { "Sign in" }
            }
        },
    )
}

async fn login_page(
    State(inspector): State<Inspector>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    axum::extract::Query(query): axum::extract::Query<LoginQuery>,
) -> Response {
    let base = base(&original, &uri);
    if !inspector.sessions.login_required() {
        return Redirect::to(&format!("{base}/")).into_response();
    }
    login_form(&base, &local_path(query.next.as_deref(), &base), None).into_response()
}

/// The login form as sent.
#[derive(Debug, Deserialize)]
struct Login {
    token: String,
    next: Option<String>,
}

async fn login(
    State(inspector): State<Inspector>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
    headers: HeaderMap,
    Form(login): Form<Login>,
) -> Response {
    let base = base(&original, &uri);
    let next = local_path(login.next.as_deref(), &base);
    let Some(token) = inspector.engine.config().admin_token.as_deref() else {
        return Redirect::to(&next).into_response();
    };
    if !same_secret(&login.token, token) {
        let form = login_form(&base, &next, Some("That is not this server's admin token."));
        return (StatusCode::UNAUTHORIZED, form).into_response();
    }
    let session = inspector.sessions.start(now());
    let cookie = session_cookie(&inspector, &session, &base, over_https(&headers));
    ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
}

async fn logout(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
    Extension(session): Extension<Session>,
    Form(form): Form<Guarded>,
) -> Response {
    if let Some(refused) = csrf_refusal(&inspector, &session, &form) {
        return refused;
    }
    let expired = format!(
        "{COOKIE}=; Path={}/; Max-Age=0; HttpOnly; SameSite=Strict",
        context.base
    );
    (
        [(header::SET_COOKIE, expired)],
        Redirect::to(&context.link("/login")),
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/inspector.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/inspector.js"),
    )
        .into_response()
}

/// A page saying what went wrong, with `status`.
fn problem(context: &Context, status: StatusCode, message: &str) -> Response {
    let body = page(
        context,
        Section::None,
        status.canonical_reason().unwrap_or("Error"),
        html! { h1 { (status.canonical_reason().unwrap_or("Error")) } p.error { (message) } },
    );
    (status, body).into_response()
}

#[cfg(test)]
mod tests;

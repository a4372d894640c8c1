//! The page around every inspector view: head, navigation, styles.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::model::RunStatus;

/// What every page knows of its visitor and where it is mounted.
#[derive(Debug, Clone)]
pub(super) struct Context {
    /// The path the inspector is mounted at, without a trailing slash
    /// (empty at the root).
    pub(super) base: String,
    /// The CSRF token of the visitor's session, for forms that change
    /// something.
    pub(super) csrf: String,
    /// Whether the visitor signed in with the admin token (and may sign
    /// out).
    pub(super) signed_in: bool,
}

impl Context {
    /// `path` (starting with `/`) under the inspector's base.
    pub(super) fn link(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The hidden field carrying the CSRF token.
    pub(super) fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }
}

/// The navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
    Overview,
    Runs,
    Triggers,
    Connections,
    Installations,
    None,
}

/// A whole page titled `title`, with `body`.
pub(super) fn page(context: &Context, section: Section, title: &str, body: Markup) -> Markup {
    let entry = |target: Section, path: &str, label: &str| {
        html! {
            a href=(context.link(path)) aria-current=[(section == target).then_some("page")] { (label) }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · Gust" }
                link rel="stylesheet" href=(context.link("/assets/inspector.css"));
                script src=(context.link("/assets/inspector.js")) defer {}
            }
            body {
                header.top {
                    a.brand href=(context.link("/")) { "Gust" }
                    nav {
                        (entry(Section::Overview, "/", "Overview"))
                        (entry(Section::Runs, "/runs", "Runs"))
                        (entry(Section::Triggers, "/triggers", "Schedules, polls & events"))
                        (entry(Section::Connections, "/connections", "Connections"))
                        (entry(Section::Installations, "/installations", "Installations"))
                    }
                    @if context.signed_in {
                        form.signout method="post" action=(context.link("/logout")) {
                            (context.csrf_field())
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A run status as a coloured chip.
pub(super) fn status_chip(status: RunStatus) -> Markup {
    html! { span class={ "chip " (status.as_str()) } { (status.as_str()) } }
}

/// `value` as indented JSON in a `<pre>`.
pub(super) fn json_block(value: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    html! { pre.json { (text) } }
}

/// A time as UTC to the second, with the full instant on hover.
pub(super) fn time(at: chrono::DateTime<chrono::Utc>) -> Markup {
    html! {
        time datetime=(at.to_rfc3339()) title=(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)) {
            (at.format("%Y-%m-%d %H:%M:%S"))
        }
    }
}

/// A duration in the unit that reads best.
pub(super) fn duration(elapsed: chrono::Duration) -> String {
    let millis = elapsed.num_milliseconds();
    if millis < 1_000 {
        format!("{millis} ms")
    } else if millis < 60_000 {
        format!("{:.1} s", millis as f64 / 1_000.0)
    } else {
        format!("{} min {} s", millis / 60_000, (millis % 60_000) / 1_000)
    }
}

/// An empty fragment.
pub(super) fn nothing() -> Markup {
    PreEscaped(String::new())
}

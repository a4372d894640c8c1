//! Which URLs a connection may send a token to, and where a connect
//! session may send the browser.
//!
//! A token answer's `signature` covers only its `id` and `issued_at`, not
//! its `instance_url`: before a token is sent anywhere, the host must be
//! Salesforce's (or one the operator trusts, such as a local emulator).
//! Lightning hosts (`*.lightning.force.com`) are refused: they answer API
//! calls with redirects.

use reqwest::Url;

/// The domains Salesforce serves logins and APIs from.
const SALESFORCE_DOMAINS: [&str; 5] = [
    "salesforce.com",
    "force.com",
    "cloudforce.com",
    "salesforce.mil",
    "sfcrmproducts.cn",
];

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostRefusal {
    /// Not a URL.
    #[error("`{0}` is not a URL")]
    NotUrl(String),
    /// A Lightning host.
    #[error(
        "`{0}` is a Lightning host; use the org's My Domain (https://<domain>.my.salesforce.com)"
    )]
    Lightning(String),
    /// Not a Salesforce host, nor trusted.
    #[error(
        "`{0}` is not a Salesforce host (https on salesforce.com, force.com, ...) nor a trusted one"
    )]
    NotSalesforce(String),
}

/// Checks URLs against Salesforce's domains and the trusted origins.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    trusted: Vec<Url>,
}

impl HostPolicy {
    /// A policy that also trusts `trusted` origins.
    pub fn new(trusted: &[String]) -> Self {
        Self {
            trusted: trusted
                .iter()
                .filter_map(|url| Url::parse(url).ok())
                .collect(),
        }
    }

    /// `url` if a token may be sent to it; without a trailing slash.
    pub fn check(&self, url: &str) -> Result<String, HostRefusal> {
        let parsed = Url::parse(url).map_err(|_| HostRefusal::NotUrl(url.to_owned()))?;
        if self
            .trusted
            .iter()
            .any(|trusted| same_origin(trusted, &parsed))
        {
            return Ok(url.trim_end_matches('/').to_owned());
        }
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        if host.ends_with(".lightning.force.com") || host.ends_with(".lightning.salesforce.com") {
            return Err(HostRefusal::Lightning(url.to_owned()));
        }
        let salesforce = parsed.scheme() == "https"
            && parsed.port().is_none()
            && parsed.username().is_empty()
            && SALESFORCE_DOMAINS
                .iter()
                .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")));
        if !salesforce {
            return Err(HostRefusal::NotSalesforce(url.to_owned()));
        }
        Ok(format!("https://{host}"))
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Whether `url` is allowed by one of `allowed`: the same origin, and a
/// path under the allowed one's.
pub(super) fn redirect_allowed(allowed: &[String], url: &str) -> bool {
    let Ok(url) = Url::parse(url) else {
        return false;
    };
    if url.username() != "" || url.password().is_some() || url.fragment().is_some() {
        return false;
    }
    allowed
        .iter()
        .filter_map(|entry| Url::parse(entry).ok())
        .any(|entry| {
            let prefix = entry.path().trim_end_matches('/');
            let path = url.path();
            same_origin(&entry, &url)
                && (path == prefix || path.starts_with(&format!("{prefix}/")) || prefix.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_hosts_pass_and_others_are_refused() {
        let policy = HostPolicy::new(&["http://127.0.0.1:8787".to_owned()]);
        for good in [
            "https://login.salesforce.com",
            "https://test.salesforce.com/",
            "https://acme.my.salesforce.com",
            "https://acme--uat.sandbox.my.salesforce.com",
            "https://na1.salesforce.com",
            "http://127.0.0.1:8787",
        ] {
            assert!(policy.check(good).is_ok(), "{good}");
        }
        assert_eq!(
            policy.check("https://ACME.my.salesforce.com/").unwrap(),
            "https://acme.my.salesforce.com"
        );
        assert!(matches!(
            policy.check("https://acme.lightning.force.com"),
            Err(HostRefusal::Lightning(_))
        ));
        for bad in [
            "http://acme.my.salesforce.com",
            "https://salesforce.com.evil.example",
            "https://evilsalesforce.com",
            "https://acme.my.salesforce.com:8443",
            "https://user@acme.my.salesforce.com",
            "http://127.0.0.1:8788",
            "not a url",
        ] {
            assert!(policy.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirects_must_be_under_an_allowed_url() {
        let allowed = ["https://app.example.com/integrations".to_owned()];
        assert!(redirect_allowed(
            &allowed,
            "https://app.example.com/integrations"
        ));
        assert!(redirect_allowed(
            &allowed,
            "https://app.example.com/integrations/sf?x=1"
        ));
        for bad in [
            "https://app.example.com/integrationsevil",
            "https://app.example.com/other",
            "https://evil.example/integrations",
            "http://app.example.com/integrations",
            "https://app.example.com:444/integrations",
            "https://app.example.com@evil.example/integrations",
            "javascript:alert(1)",
        ] {
            assert!(!redirect_allowed(&allowed, bad), "{bad}");
        }
    }
}

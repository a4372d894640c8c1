//! The inspector's sessions: a signed cookie, and the CSRF token each form
//! that changes something carries.
//!
//! A session is `<expires>.<nonce>.<mac>` in an HttpOnly, SameSite=Strict
//! cookie, the MAC an HMAC-SHA256 under a key derived from the admin token
//! (so every server with the same token accepts it, and changing the token
//! ends every session), or under a random key of this process when there is
//! no token (loopback only: a session is then handed to any visitor, for
//! its CSRF token). A form's CSRF token is the HMAC of `csrf.<nonce>`: a
//! page of another site can neither read it nor send the cookie.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub(super) const COOKIE: &str = "gust_session";

/// How long a session lasts.
const LIFETIME: Duration = Duration::hours(12);

/// Signs and checks sessions.
#[derive(Clone)]
pub(super) struct Sessions {
    key: [u8; 32],
    /// Whether a visitor needs the admin token to get a session.
    login_required: bool,
}

/// A valid session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Session {
    nonce: String,
    expires: i64,
}

impl Sessions {
    /// Sessions for a server with `admin_token` (none: no login).
    pub(super) fn new(admin_token: Option<&str>) -> Self {
        let key = match admin_token {
            Some(token) => Sha256::new()
                .chain_update(b"gust inspector session\0")
                .chain_update(token.as_bytes())
                .finalize()
                .into(),
            None => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).expect("the operating system gives random bytes");
                key
            }
        };
        Self {
            key,
            login_required: admin_token.is_some(),
        }
    }

    /// Whether a visitor signs in with the admin token.
    pub(super) fn login_required(&self) -> bool {
        self.login_required
    }

    /// A new session, valid from `now` for its lifetime.
    pub(super) fn start(&self, now: DateTime<Utc>) -> Session {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).expect("the operating system gives random bytes");
        Session {
            nonce: hex::encode(nonce),
            expires: (now + LIFETIME).timestamp(),
        }
    }

    /// The cookie's value for `session`.
    pub(super) fn cookie_value(&self, session: &Session) -> String {
        let signed = format!("{}.{}", session.expires, session.nonce);
        format!("{signed}.{}", self.mac(signed.as_bytes()))
    }

    /// The session a cookie's value holds, if it is signed here and not
    /// expired at `now`.
    pub(super) fn check(&self, value: &str, now: DateTime<Utc>) -> Option<Session> {
        let (signed, mac) = value.rsplit_once('.')?;
        if !same(mac, &self.mac(signed.as_bytes())) {
            return None;
        }
        let (expires, nonce) = signed.split_once('.')?;
        let expires: i64 = expires.parse().ok()?;
        (expires > now.timestamp()).then(|| Session {
            nonce: nonce.to_owned(),
            expires,
        })
    }

    /// The CSRF token of `session`'s forms.
    pub(super) fn csrf(&self, session: &Session) -> String {
        self.mac(format!("csrf.{}", session.nonce).as_bytes())
    }

    /// Whether `presented` is `session`'s CSRF token.
    pub(super) fn csrf_matches(&self, session: &Session, presented: &str) -> bool {
        same(presented, &self.csrf(session))
    }

    fn mac(&self, message: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }
}

impl Session {
    /// Seconds the session has left at `now`.
    pub(super) fn max_age(&self, now: DateTime<Utc>) -> i64 {
        (self.expires - now.timestamp()).max(0)
    }
}

/// Whether two texts are equal, compared in constant time.
fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_valid_where_it_was_signed_until_it_expires() {
        let sessions = Sessions::new(Some("token"));
        let now = Utc::now();
        let session = sessions.start(now);
        let cookie = sessions.cookie_value(&session);
        assert_eq!(sessions.check(&cookie, now), Some(session.clone()));
        assert_eq!(sessions.check(&cookie, now + LIFETIME), None, "expired");
        // Another token, a forged MAC, a changed expiry: refused.
        assert_eq!(Sessions::new(Some("other")).check(&cookie, now), None);
        let last = if cookie.ends_with('0') { '1' } else { '0' };
        let forged = format!("{}{last}", &cookie[..cookie.len() - 1]);
        assert_eq!(sessions.check(&forged, now), None);
        let (_, rest) = cookie.split_once('.').unwrap();
        let extended = format!("{}.{rest}", session.expires + 3600);
        assert_eq!(sessions.check(&extended, now), None);
        assert_eq!(sessions.check("", now), None);
    }

    #[test]
    fn a_csrf_token_belongs_to_its_session() {
        let sessions = Sessions::new(None);
        let now = Utc::now();
        let (one, two) = (sessions.start(now), sessions.start(now));
        let token = sessions.csrf(&one);
        assert!(sessions.csrf_matches(&one, &token));
        assert!(!sessions.csrf_matches(&two, &token));
        assert!(!sessions.csrf_matches(&one, ""));
    }
}

//! The signed assertion of the OAuth JWT bearer flow: RS256 over
//! `{"iss": client_id, "sub": username, "aud": login_url, "exp": now + 3 min}`.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::json;

/// How long an assertion is valid; Salesforce takes at most 3 minutes.
const LIFETIME_SECONDS: i64 = 180;

/// An RSA key that signs assertions.
pub(crate) struct JwtSigner {
    key: RsaKeyPair,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSigner(..)")
    }
}

/// A JWT bearer connection's private key cannot sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not a PEM private key.
    #[error("the private key is not a PEM private key: {0}")]
    NotPem(String),
    /// The key is not an RSA key.
    #[error("the private key must be an RSA key")]
    NotRsa,
    /// The RSA key was refused.
    #[error("the private key is not a usable RSA key: {0}")]
    Unusable(String),
}

impl JwtSigner {
    /// Reads a PEM RSA private key (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1
    /// `BEGIN RSA PRIVATE KEY`).
    pub(crate) fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|error| KeyError::NotPem(error.to_string()))?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            _ => return Err(KeyError::NotRsa),
        }
        .map_err(|error| KeyError::Unusable(error.to_string()))?;
        Ok(Self { key })
    }

    /// A fresh assertion for `username` issued by `client_id`, for `audience`.
    pub(crate) fn assertion(&self, client_id: &str, username: &str, audience: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        let claims = json!({
            "iss": client_id,
            "sub": username,
            "aud": audience,
            "exp": chrono::Utc::now().timestamp() + LIFETIME_SECONDS,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let message = format!("{header}.{claims}");
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message.as_bytes(),
                &mut signature,
            )
            .expect("signing with a parsed RSA key does not fail");
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    /// A 2048-bit key made for these tests only.
    const TEST_KEY: &str = include_str!("testdata/jwt-test-key.pem");

    #[test]
    fn signs_claims_salesforce_checks() {
        let signer = JwtSigner::from_pem(TEST_KEY).unwrap();
        let assertion = signer.assertion("app", "ada@example.com", "https://login.salesforce.com");
        let parts: Vec<&str> = assertion.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "app");
        assert_eq!(claims["sub"], "ada@example.com");
        assert_eq!(claims["aud"], "https://login.salesforce.com");
        let exp = claims["exp"].as_i64().unwrap();
        assert!(exp > chrono::Utc::now().timestamp() + 120);
        let public = UnparsedPublicKey::new(
            &RSA_PKCS1_2048_8192_SHA256,
            signer.key.public_key().as_ref().to_vec(),
        );
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        public.verify(signed.as_bytes(), &signature).unwrap();
        assert!(public.verify(b"something else", &signature).is_err());
    }

    #[test]
    fn refuses_what_is_not_an_rsa_key() {
        let error = JwtSigner::from_pem("hello").unwrap_err().to_string();
        assert!(error.contains("not a PEM private key"), "{error}");
    }
}

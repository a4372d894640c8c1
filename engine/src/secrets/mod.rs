//! Secrets encrypted at rest: AES-256-GCM under a key ring.
//!
//! A key ring holds named 256-bit keys, one of them active. Each sealed
//! secret names the key it was sealed under and is bound to what it
//! belongs to (a connection's id, say) as associated data, so that a
//! ciphertext moved to another record does not open. Rotating is adding a
//! new active key and sealing every secret again ([`KeyRing::needs_reseal`]
//! says which); a secret whose key is no longer in the ring fails to open
//! with [`SecretsError::MissingKey`], naming the key.
//!
//! Keys come from `GUST_SECRET_KEYS` or a key file, one `id=base64` per
//! entry (entries separated by commas or new lines), the first active.
//! With neither, [`KeyRing::load_or_create`] makes `secret.key` in the data
//! directory (mode 0600) and says so.
//!
//! Sealed form: `1`, the key id's length (one byte), the key id, a 12-byte
//! random nonce, then the ciphertext and its 16-byte tag.

use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, Key as CipherKey, KeyInit, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// The environment variable that holds the key ring.
pub const KEYS_VARIABLE: &str = "GUST_SECRET_KEYS";
/// The key file made in the data directory when no key is configured.
pub const KEY_FILE: &str = "secret.key";

/// The version byte of the sealed form.
const SEALED_VERSION: u8 = 1;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
const KEY_BYTES: usize = 32;
/// The longest key id (its length is stored in one byte).
const MAX_KEY_ID: usize = 64;

/// Why a key ring could not be made, or a secret not sealed or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// A key entry is not `id=base64-of-32-bytes`.
    #[error(
        "the secret key `{id}` is not valid: {reason} (write each key as `id=<base64 of 32 random bytes>`, e.g. `k1=$(head -c32 /dev/urandom | base64)`)"
    )]
    InvalidKey {
        /// The key's id, or the entry when it has none.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The ring names no key.
    #[error("no secret key is configured: set {KEYS_VARIABLE} or give a key file")]
    NoKey,
    /// A secret was sealed under a key the ring does not hold.
    #[error(
        "a stored secret was sealed under the key `{0}`, which is not configured: add it to {KEYS_VARIABLE} (or the key file) again"
    )]
    MissingKey(String),
    /// A sealed secret does not open: it was changed, or belongs to another
    /// record.
    #[error("a stored secret does not open: it was altered or belongs to another record")]
    Tampered,
    /// The bytes are not a sealed secret.
    #[error("a stored secret is not in the sealed form: {0}")]
    Malformed(&'static str),
    /// The key file could not be read or written.
    #[error("the secret key file {path}: {error}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

/// One named key.
struct Key {
    id: String,
    cipher: Aes256Gcm,
}

/// Named keys, the first active.
pub struct KeyRing {
    keys: Vec<Key>,
}

impl fmt::Debug for KeyRing {
    /// Names the keys, never their bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.active_id())
            .field(
                "keys",
                &self.keys.iter().map(|key| &key.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Where a key ring came from, for the start-up line that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `GUST_SECRET_KEYS`.
    Environment,
    /// A key file that was there.
    File(PathBuf),
    /// A key file made just now.
    Created(PathBuf),
}

impl KeyRing {
    /// Reads a ring from entries `id=base64`, separated by commas or new
    /// lines (blank lines and `#` comments skipped); the first is active.
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        let entries = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|entry| !entry.is_empty() && !entry.starts_with('#'));
        let mut keys: Vec<Key> = Vec::new();
        for entry in entries {
            let invalid = |id: &str, reason: &str| SecretsError::InvalidKey {
                id: id.to_owned(),
                reason: reason.to_owned(),
            };
            let Some((id, material)) = entry.split_once('=') else {
                return Err(invalid("(unnamed)", "it has no `id=` before the key"));
            };
            let id = id.trim();
            if id.is_empty() || id.len() > MAX_KEY_ID || !id.bytes().all(is_id_byte) {
                return Err(invalid(
                    id,
                    "an id is 1 to 64 letters, digits, `-`, `_` or `.`",
                ));
            }
            if keys.iter().any(|key| key.id == id) {
                return Err(invalid(id, "the id is given twice"));
            }
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(material.trim())
                    .map_err(|_| invalid(id, "the key is not base64"))?,
            );
            if bytes.len() != KEY_BYTES {
                return Err(invalid(
                    id,
                    &format!("the key is {} bytes; it must be 32", bytes.len()),
                ));
            }
            keys.push(Key {
                id: id.to_owned(),
                cipher: Aes256Gcm::new(CipherKey::<Aes256Gcm>::from_slice(&bytes)),
            });
        }
        if keys.is_empty() {
            return Err(SecretsError::NoKey);
        }
        Ok(Self { keys })
    }

    /// The ring of `GUST_SECRET_KEYS` when set, else of `key_file` when
    /// given, else of `<data_dir>/secret.key`, made (mode 0600, one new
    /// random key) when missing.
    pub fn load_or_create(
        key_file: Option<&Path>,
        data_dir: &Path,
    ) -> Result<(Self, KeySource), SecretsError> {
        if let Ok(text) = std::env::var(KEYS_VARIABLE)
            && !text.trim().is_empty()
        {
            return Ok((Self::parse(&text)?, KeySource::Environment));
        }
        let path = key_file.map_or_else(|| data_dir.join(KEY_FILE), Path::to_path_buf);
        let file_error = |error| SecretsError::KeyFile {
            path: path.clone(),
            error,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((Self::parse(&text)?, KeySource::File(path))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && key_file.is_none() => {
                let text = new_key_entry("k1");
                std::fs::create_dir_all(data_dir).map_err(file_error)?;
                write_private(&path, text.as_bytes()).map_err(file_error)?;
                Ok((Self::parse(&text)?, KeySource::Created(path)))
            }
            Err(error) => Err(file_error(error)),
        }
    }

    /// The id of the key new secrets are sealed under.
    pub fn active_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `secret` under the active key, bound to `owner`.
    pub fn seal(&self, owner: &str, secret: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_BYTES];
        random_bytes(&mut nonce);
        let aad = associated_data(owner, &key.id);
        let sealed = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .expect("AES-GCM seals any message under 64 GiB");
        let mut out = Vec::with_capacity(2 + key.id.len() + NONCE_BYTES + sealed.len());
        out.push(SEALED_VERSION);
        // Ids are at most 64 bytes (checked when the ring is read).
        out.push(key.id.len() as u8);
        out.extend_from_slice(key.id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens `sealed`, which must be bound to `owner`.
    pub fn open(&self, owner: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        let (key_id, nonce, ciphertext) = split(sealed)?;
        let key = self
            .keys
            .iter()
            .find(|key| key.id == key_id)
            .ok_or_else(|| SecretsError::MissingKey(key_id.to_owned()))?;
        let aad = associated_data(owner, key_id);
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SecretsError::Tampered)
    }

    /// `Ok` when the ring holds the key `sealed` names (without opening
    /// it); [`SecretsError::MissingKey`] naming it otherwise.
    pub fn check_key(&self, sealed: &[u8]) -> Result<(), SecretsError> {
        let (key_id, _, _) = split(sealed)?;
        if self.keys.iter().any(|key| key.id == key_id) {
            Ok(())
        } else {
            Err(SecretsError::MissingKey(key_id.to_owned()))
        }
    }

    /// Whether `sealed` was sealed under another key than the active one
    /// (and so is sealed again by a rotation).
    pub fn needs_reseal(&self, sealed: &[u8]) -> Result<bool, SecretsError> {
        let (key_id, _, _) = split(sealed)?;
        Ok(key_id != self.active_id())
    }
}

/// The key id, nonce and ciphertext of a sealed secret.
fn split(sealed: &[u8]) -> Result<(&str, &[u8], &[u8]), SecretsError> {
    let (&version, rest) = sealed
        .split_first()
        .ok_or(SecretsError::Malformed("it is empty"))?;
    if version != SEALED_VERSION {
        return Err(SecretsError::Malformed(
            "its version is not one this Gust reads",
        ));
    }
    let (&id_length, rest) = rest
        .split_first()
        .ok_or(SecretsError::Malformed("it is truncated"))?;
    let id_length = usize::from(id_length);
    if rest.len() < id_length + NONCE_BYTES + TAG_BYTES {
        return Err(SecretsError::Malformed("it is truncated"));
    }
    let (id, rest) = rest.split_at(id_length);
    let id =
        std::str::from_utf8(id).map_err(|_| SecretsError::Malformed("its key id is not text"))?;
    let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
    Ok((id, nonce, ciphertext))
}

/// What a sealed secret is bound to: its owner and its key id, each behind
/// its length so that no two pairs read alike.
fn associated_data(owner: &str, key_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + owner.len() + key_id.len());
    for part in [owner, key_id] {
        aad.extend_from_slice(&(part.len() as u64).to_le_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

/// Fills `bytes` from the operating system's random source.
fn random_bytes(bytes: &mut [u8]) {
    getrandom::fill(bytes).expect("the operating system gives random bytes");
}

fn is_id_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.')
}

/// A key file entry: `id` and a new random key.
fn new_key_entry(id: &str) -> String {
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    random_bytes(key.as_mut_slice());
    format!("{id}={}\n", STANDARD.encode(key.as_slice()))
}

/// Writes `bytes` to a new file only its owner may read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests;

//! The server key: a 256-bit key kept in a file outside the database, which seals the secrets
//! the database must hold but never in plain text (API client secrets, token signing keys).
//! A stolen database alone gives away none of them.

use super::audit::ChainKey;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use std::path::Path;

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
/// Marks the sealing format, so another one can be added later.
const SEALED_PREFIX: &str = "v1.";

#[derive(Clone)]
pub struct ServerKey {
    cipher: XChaCha20Poly1305,
    chain_key: ChainKey,
}

// The key never appears in logs.
impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

/// `n` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A fresh random secret of 256 bits, URL-safe text.
pub fn new_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

impl ServerKey {
    pub fn from_bytes(bytes: &[u8; KEY_BYTES]) -> Self {
        ServerKey { cipher: XChaCha20Poly1305::new(bytes.into()), chain_key: ChainKey::new(derive(bytes, "guise audit chain v1")) }
    }

    /// The key of the audit log's hash chains, derived from this key: one key file serves both,
    /// and neither use can stand in for the other.
    pub fn chain_key(&self) -> ChainKey {
        self.chain_key.clone()
    }

    /// A key that lives only as long as the process (tests, in-memory databases).
    pub fn ephemeral() -> Self {
        Self::from_bytes(&random_bytes::<KEY_BYTES>())
    }

    /// Reads the key file, creating it (readable by its owner only) when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(text.trim()).map_err(|e| format!("the server key file {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = random_bytes::<KEY_BYTES>();
                write_private(path, &STANDARD_NO_PAD.encode(bytes))
                    .map_err(|e| format!("cannot create the server key file {}: {e}", path.display()))?;
                tracing::info!("created the server key file {}", path.display());
                Ok(Self::from_bytes(&bytes))
            }
            Err(e) => Err(format!("cannot read the server key file {}: {e}", path.display())),
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        let bytes = STANDARD_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| "it is not base64".to_string())?;
        let bytes: [u8; KEY_BYTES] =
            bytes.try_into().map_err(|_| format!("it must hold exactly {KEY_BYTES} bytes"))?;
        Ok(Self::from_bytes(&bytes))
    }

    /// Seals `plain`, bound to `context` (the row it belongs to), so a sealed value copied to
    /// another row does not open.
    pub fn seal(&self, plain: &[u8], context: &str) -> String {
        let nonce = random_bytes::<NONCE_BYTES>();
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: context.as_bytes() })
            .expect("XChaCha20-Poly1305 sealing of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", STANDARD_NO_PAD.encode(out))
    }

    /// Opens what `seal` made for the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, String> {
        let body = sealed.strip_prefix(SEALED_PREFIX).ok_or("unknown sealing format")?;
        let bytes = STANDARD_NO_PAD.decode(body).map_err(|_| "sealed value is not base64")?;
        if bytes.len() < NONCE_BYTES {
            return Err("sealed value is truncated".into());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: context.as_bytes() })
            .map_err(|_| "sealed value does not open with this server key".to_string())
    }
}

/// A key for one purpose, derived from the server key: HMAC-SHA-256 of the purpose's label.
fn derive(key: &[u8; KEY_BYTES], label: &str) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(content.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let key = ServerKey::ephemeral();
        let sealed = key.seal(b"client secret", "api_client:demo");
        assert!(!sealed.contains("client secret"));
        assert_eq!(key.open(&sealed, "api_client:demo").unwrap(), b"client secret");
        assert!(key.open(&sealed, "api_client:other").is_err());
        assert!(ServerKey::ephemeral().open(&sealed, "api_client:demo").is_err());
        assert!(key.open("v1.AAAA", "api_client:demo").is_err());
        assert!(key.open("plain", "api_client:demo").is_err());
        // The same plaintext seals differently every time (random nonce).
        assert_ne!(key.seal(b"x", "c"), key.seal(b"x", "c"));
    }

    #[test]
    fn the_key_file_is_created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("guise.key");
        let first = ServerKey::load_or_create(&path).unwrap();
        let sealed = first.seal(b"s", "c");
        let again = ServerKey::load_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed, "c").unwrap(), b"s");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        assert!(ServerKey::load_or_create(&path).unwrap_err().contains("base64"));
    }

    #[test]
    fn secrets_are_random_and_compared_in_constant_time() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(same_secret(a.as_bytes(), a.as_bytes()));
        assert!(!same_secret(a.as_bytes(), b.as_bytes()));
        assert!(!same_secret(b"abc", b"abcd"));
    }
}

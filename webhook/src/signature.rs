//! `X-Hub-Signature-256` verification (HMAC-SHA256 over the raw request body).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix GitHub puts in front of the hex digest in `X-Hub-Signature-256`.
const PREFIX: &str = "sha256=";

/// Why a delivery's signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is absent.
    #[error("missing X-Hub-Signature-256 header; set a secret on the GitHub webhook")]
    Missing,
    /// The header is not `sha256=<64 hex digits>`.
    #[error("malformed X-Hub-Signature-256 header; expected sha256=<hex digest>")]
    Malformed,
    /// The digest does not match the body under the configured secret.
    #[error("signature mismatch; check that the GitHub webhook secret matches cubist's")]
    Mismatch,
}

/// Computes the `X-Hub-Signature-256` header value (`sha256=<hex>`) for `body`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks `header` (the raw `X-Hub-Signature-256` value) against `body` in constant time.
pub fn verify(secret: &[u8], header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let digest = header
        .trim()
        .strip_prefix(PREFIX)
        .and_then(|h| hex::decode(h).ok())
        .filter(|d| d.len() == 32)
        .ok_or(SignatureError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_documented_example() {
        // Example from GitHub's "Validating webhook deliveries" documentation.
        let sig = sign(b"It's a Secret to Everybody", b"Hello, World!");
        assert_eq!(
            sig,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        assert_eq!(
            verify(b"It's a Secret to Everybody", Some(&sig), b"Hello, World!"),
            Ok(())
        );
    }

    #[test]
    fn rejects_missing_malformed_and_wrong() {
        let body = b"{}";
        assert_eq!(verify(b"k", None, body), Err(SignatureError::Missing));
        assert_eq!(
            verify(b"k", Some("sha1=abcd"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"k", Some("sha256=zz"), body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"k", Some("sha256=abcd"), body),
            Err(SignatureError::Malformed)
        );
        let other = sign(b"other", body);
        assert_eq!(
            verify(b"k", Some(&other), body),
            Err(SignatureError::Mismatch)
        );
        let good = sign(b"k", body);
        assert_eq!(
            verify(b"k", Some(&good), b"{} "),
            Err(SignatureError::Mismatch)
        );
    }
}

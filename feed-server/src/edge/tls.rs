//! TLS for the feed port (`--tls-cert`/`--tls-key`, or `--tls-self-signed`): https:// and wss://
//! on the same port, with rustls and the ring provider (no OpenSSL).
//!
//! The handshake runs before HTTP; once a WebSocket is accepted, its TLS session moves into the
//! client's [`super::outbox`], where the hub encrypts and writes frames itself, as on plain TCP.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Largest certificate or key file read, in bytes (fixed).
const MAX_PEM_BYTES: u64 = 1_048_576;
/// The names a self-signed certificate is good for.
const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A server's TLS settings, ready to accept.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// Where `--tls-self-signed` wrote its certificate, for clients to trust.
    pub self_signed: Option<PathBuf>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("self_signed", &self.self_signed)
            .finish_non_exhaustive()
    }
}

/// The ring provider, named rather than taken from the process default, so that no other crate's
/// choice of provider can make this ambiguous.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where `--tls-self-signed` writes the certificate of a server on `port`.
pub fn self_signed_path(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("tickwire-self-signed-{port}.pem"))
}

/// The certificate a port serves.
#[derive(Debug, Clone)]
pub enum Identity {
    /// `--tls-cert` and `--tls-key`.
    Files { cert: PathBuf, key: PathBuf },
    /// `--tls-self-signed`.
    SelfSigned,
}

impl Tls {
    /// Loads the certificate and key, or makes and writes a self-signed certificate for a server
    /// on `port`.
    pub fn new(identity: &Identity, port: u16) -> Result<Self, String> {
        let (certs, key, self_signed) = match identity {
            Identity::SelfSigned => {
                let (certs, key, pem) = self_signed()?;
                let path = self_signed_path(port);
                std::fs::write(&path, pem).map_err(|e| {
                    format!(
                        "cannot write the self-signed certificate to {}: {e}",
                        path.display()
                    )
                })?;
                (certs, key, Some(path))
            }
            Identity::Files { cert, key } => (load_certs(cert)?, load_key(key)?, None),
        };
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("the TLS certificate and key do not work together: {e}"))?;
        // HTTP/1.1 only: WebSocket upgrades and the page both use it.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            self_signed,
        })
    }
}

/// A new key and a certificate for [`SELF_SIGNED_NAMES`], and the certificate as PEM.
fn self_signed() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String), String> {
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|&n| n.to_owned()).collect();
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot make a self-signed certificate: {e}"))?;
    let pem = made.cert.pem();
    let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
        .map_err(|e| format!("cannot use the self-signed key: {e}"))?;
    Ok((vec![made.cert.der().clone()], key, pem))
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read the TLS {what} {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(format!(
            "the TLS {what} {} is over {MAX_PEM_BYTES} bytes",
            path.display()
        ));
    }
    Ok(bytes)
}

/// Every certificate in a PEM file, the server's own first.
fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_pem(path, "certificate")?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate in it (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_pem(path, "key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        format!(
            "{}: no private key in it (expected PKCS#8, PKCS#1 or SEC1 PEM): {e}",
            path.display()
        )
    })
}

/// A certificate and key as PEM files in `dir`, for tests and examples: `(cert, key)`.
#[doc(hidden)]
pub fn write_test_identity(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|&n| n.to_owned()).collect();
    let made = rcgen::generate_simple_self_signed(names).map_err(|e| e.to_string())?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).map_err(|e| e.to_string())?;
    std::fs::write(&key, made.signing_key.serialize_pem()).map_err(|e| e.to_string())?;
    Ok((cert, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        assert!(load_certs(&empty).unwrap_err().contains("no certificate"));
        assert!(load_key(&empty).unwrap_err().contains("no private key"));
        assert!(
            load_certs(&dir.path().join("missing.pem"))
                .unwrap_err()
                .contains("cannot read")
        );
        let (cert, key) = write_test_identity(dir.path()).unwrap();
        assert_eq!(load_certs(&cert).unwrap().len(), 1);
        // A certificate is not a key.
        assert!(load_key(&cert).is_err());
        assert!(Tls::new(&Identity::Files { cert, key }, 1).is_ok());
    }
}

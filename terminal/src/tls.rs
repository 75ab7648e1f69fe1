//! Trust for `wss://` URLs: the system's root certificates, plus `--ca-cert FILE` for a private
//! CA or a self-signed server. One setting for the whole process, made at startup, used by every
//! connection (the TUI, `record`, each bench connection).

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use clap::Args;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::error::TlsError;

/// The TLS flags every connecting command has.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// For wss:// URLs: also trust this certificate (PEM): a private CA, or the file a
    /// `feed-server --tls-self-signed` names at startup. The system's roots are always trusted.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

static CLIENT: RwLock<Option<Arc<ClientConfig>>> = RwLock::new(None);

/// Sets the process's trust from `args`, before connecting. A CA file that cannot be read or
/// holds no certificate is an error here, not a puzzling failure later.
pub fn trust(args: &TlsArgs) -> Result<(), String> {
    let config = build(args)?;
    *CLIENT.write().unwrap_or_else(PoisonError::into_inner) = Some(config);
    Ok(())
}

/// The client TLS settings: those [`trust`] made, or the system's roots alone.
pub fn client() -> Result<Arc<ClientConfig>, String> {
    if let Some(config) = CLIENT
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
    {
        return Ok(config);
    }
    trust(&TlsArgs::default())?;
    client()
}

fn build(args: &TlsArgs) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!("system root certificates: {e}");
    }
    let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
    if let Some(path) = &args.ca_cert {
        for cert in ca_certificates(path)? {
            roots
                .add(cert)
                .map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
        }
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Largest `--ca-cert` file read, in bytes (fixed): a CA bundle is far smaller.
const MAX_CA_FILE_BYTES: u64 = 4 * 1_048_576;

/// The certificates of a PEM file: at least one, or why not.
fn ca_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?
        .len();
    if size > MAX_CA_FILE_BYTES {
        return Err(format!(
            "{}: {size} bytes is too large for a certificate file (at most {MAX_CA_FILE_BYTES})",
            path.display()
        ));
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect)
        .map_err(|e| format!("{}: cannot read certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate in it (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// A connection error for people: what failed and, for TLS, how to fix it.
pub fn describe(url: &str, e: &WsError) -> String {
    let hint = "pass --ca-cert FILE with the server's certificate or its CA (feed-server \
                --tls-self-signed names its file at startup)";
    // tokio-rustls reports TLS failures as I/O errors that carry rustls's error inside.
    let inner = match e {
        WsError::Tls(TlsError::Rustls(rustls)) => Some(&**rustls),
        WsError::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    match (e, inner) {
        (_, Some(rustls)) => match rustls {
            rustls::Error::InvalidCertificate(why) => {
                format!("the server's TLS certificate is not trusted ({why:?}); {hint}")
            }
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                format!(
                    "TLS failed: the server does not speak TLS ({e}); for a plain server use ws:// instead of wss://"
                )
            }
            other => format!("TLS failed: {other}"),
        },
        (WsError::Tls(other), None) => format!("TLS failed: {other}"),
        (WsError::Io(_) | WsError::Protocol(_), None) if url.starts_with("ws://") => {
            format!("cannot connect: {e} (if the server runs with TLS, use wss://)")
        }
        (other, None) => format!("cannot connect: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused_at_startup() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let args = TlsArgs {
            ca_cert: Some(empty),
        };
        assert!(build(&args).unwrap_err().contains("no certificate"));
        let missing = TlsArgs {
            ca_cert: Some(dir.path().join("missing.pem")),
        };
        assert!(build(&missing).unwrap_err().contains("cannot read"));
    }
}

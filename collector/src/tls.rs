//! TLS with rustls and the ring provider only (PITFALLS: never aws-lc-rs).
//! Certificates and keys are PEM files; docs/collector.md shows how to make
//! them with openssl.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::sync::Arc;

/// Install ring as the process-wide rustls provider (idempotent).
pub fn install_provider() {
    // Err means a provider is already installed: fine either way.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A TLS acceptor for a PEM certificate chain and private key.
pub fn acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert)
            .with_context(|| format!("cannot open TLS certificate {}", cert.display()))?,
    ))
    .collect::<Result<_, _>>()
    .with_context(|| format!("TLS certificate {} is not PEM", cert.display()))?;
    if certs.is_empty() {
        bail!(
            "TLS certificate {} holds no CERTIFICATE block",
            cert.display()
        );
    }
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key)
            .with_context(|| format!("cannot open TLS key {}", key.display()))?,
    ))
    .with_context(|| format!("TLS key {} is not PEM", key.display()))?
    .with_context(|| format!("TLS key {} holds no PRIVATE KEY block", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS certificate and key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

//! The collector's HTTP API as the agent uses it (CONTRACT §7): `POST
//! /api/v1/reports` and `POST /api/v1/enroll`, over rustls with the ring
//! provider (PITFALLS: never aws-lc-rs).
//!
//! Trust: with `collector.ca_file`, only that file is trusted — either a CA
//! that issued the collector's certificate, or the collector's own
//! certificate, pinned byte for byte (a self-signed certificate made with
//! `openssl req -x509` is typically marked CA and would otherwise be refused
//! as an end-entity). Without it, the Mozilla roots (`webpki-roots`) are used.
//! `http://` is accepted only to loopback (`config::check_collector_url`).

use anyhow::{Context, Result, anyhow};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::check_collector_url;

/// What the collector said about one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 202 stored or 200 already stored: ack it.
    Delivered(u16),
    /// 409: the collector kept it as a tamper alert. Counted as delivered
    /// (sending it again cannot change the answer), logged loudly.
    Conflict(String),
    /// Network error, 5xx, 429: try again later (`retry_after` if the
    /// collector said so).
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Another 4xx (401 unknown key, 403, 404 ...): kept in the outbox,
    /// retried with a long backoff, logged loudly — an operator must act
    /// (enroll the key, fix the collector).
    Rejected { status: u16, body: String },
    /// 400 malformed or 413 too large: sending the same bytes again cannot
    /// change the answer. Set aside so the queue goes on (issue 11).
    Refused { status: u16, body: String },
}

/// Response header with the collector's body limit for `POST
/// /api/v1/reports` (also in the enroll answer as `max_report_bytes`).
pub const LIMIT_HEADER: &str = "X-Mijian-Max-Report-Bytes";

/// A configured client for one collector.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    /// The body limit the collector last announced ([`LIMIT_HEADER`]); 0 unknown.
    pub limit: std::sync::atomic::AtomicU64,
}

fn announced_limit(resp: &ureq::Response) -> Option<u64> {
    resp.header(LIMIT_HEADER)
        .and_then(|v| v.trim().parse::<u64>().ok())
}

impl Client {
    /// `url` is the collector's base URL (`https://host:8443`).
    pub fn new(url: &str, ca_file: Option<&Path>) -> Result<Client> {
        check_collector_url(url)?;
        let tls = tls_config(ca_file)?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(tls))
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("mijian-agent/", env!("CARGO_PKG_VERSION")))
            // A redirect could turn https into http to a non-loopback host.
            .redirects(0)
            .build();
        Ok(Client {
            agent,
            base: url.trim_end_matches('/').to_string(),
            limit: Default::default(),
        })
    }

    /// `POST /api/v1/reports` with the JWS bytes.
    pub fn post_report(&self, jws: &[u8]) -> Outcome {
        let known = self.limit.load(std::sync::atomic::Ordering::Relaxed);
        if known > 0 && jws.len() as u64 > known {
            return too_large(jws.len(), known);
        }
        let out = self.post_once(jws);
        // A collector refusing an oversized body answers 413 from the
        // headers and closes the connection while the body is still being
        // sent: the agent sees a broken pipe, not the 413, and would retry
        // for ever (issue 11). Ask for the limit with an empty body.
        if let Outcome::Retry { .. } = &out
            && known == 0
            && jws.len() > 64 * 1024
        {
            let _ = self.post_once(b"{}");
            let learned = self.limit.load(std::sync::atomic::Ordering::Relaxed);
            if learned > 0 && jws.len() as u64 > learned {
                return too_large(jws.len(), learned);
            }
        }
        out
    }

    fn post_once(&self, jws: &[u8]) -> Outcome {
        let url = format!("{}/api/v1/reports", self.base);
        match self
            .agent
            .post(&url)
            .set("Content-Type", "application/json")
            .send_bytes(jws)
        {
            Ok(resp) => {
                if let Some(l) = announced_limit(&resp) {
                    self.limit.store(l, std::sync::atomic::Ordering::Relaxed);
                }
                match resp.status() {
                    200..=202 => Outcome::Delivered(resp.status()),
                    s => Outcome::Retry {
                        reason: format!("unexpected status {s}"),
                        retry_after: None,
                    },
                }
            }
            Err(ureq::Error::Status(code, resp)) => {
                if let Some(l) = announced_limit(&resp) {
                    self.limit.store(l, std::sync::atomic::Ordering::Relaxed);
                }
                let retry_after = resp
                    .header("Retry-After")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(3600)));
                let body = body_excerpt(resp);
                match code {
                    409 => Outcome::Conflict(body),
                    400 | 413 => Outcome::Refused { status: code, body },
                    408 | 429 | 500..=599 => Outcome::Retry {
                        reason: format!("HTTP {code} {body}"),
                        retry_after,
                    },
                    _ => Outcome::Rejected { status: code, body },
                }
            }
            Err(ureq::Error::Transport(t)) => Outcome::Retry {
                reason: t.to_string(),
                retry_after: None,
            },
        }
    }

    /// `POST /api/v1/enroll` `{token, jwk, hostname}` → `agent_id` and the
    /// collector's report size limit (`max_report_bytes`), if it says.
    #[cfg(test)]
    pub fn enroll(
        &self,
        token: &str,
        jwk: &serde_json::Value,
        hostname: &str,
    ) -> Result<(String, Option<u64>)> {
        let v = self.enroll_answer(token, jwk, hostname)?;
        let id = v
            .get("agent_id")
            .and_then(|a| a.as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("the enrollment answer has no agent_id: {v}"))?;
        Ok((id, v.get("max_report_bytes").and_then(|m| m.as_u64())))
    }

    /// `POST /api/v1/enroll`: the whole JSON answer (`agent_id`,
    /// `max_report_bytes`, and `collector_jwk` from collectors that sign
    /// policy bundles).
    pub fn enroll_answer(
        &self,
        token: &str,
        jwk: &serde_json::Value,
        hostname: &str,
    ) -> Result<serde_json::Value> {
        let url = format!("{}/api/v1/enroll", self.base);
        let body = serde_json::json!({ "token": token, "jwk": jwk, "hostname": hostname });
        let resp = match self
            .agent
            .post(&url)
            .set("Content-Type", "application/json")
            .send_bytes(&serde_json::to_vec(&body)?)
        {
            Ok(r) => r,
            Err(ureq::Error::Status(code, resp)) => {
                let body = body_excerpt(resp);
                let hint = match code {
                    401 | 403 => {
                        " (the token is wrong, used up or expired: make a new one with `mijian-collector token create`)"
                    }
                    404 => " (is this the collector's base URL?)",
                    _ => "",
                };
                return Err(anyhow!(
                    "collector refused the enrollment: HTTP {code} {body}{hint}"
                ));
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(anyhow!(
                    "cannot reach the collector at {url}: {t}{}",
                    tls_hint(&t.to_string())
                ));
            }
        };
        let mut text = String::new();
        resp.into_reader()
            .take(64 * 1024)
            .read_to_string(&mut text)
            .context("read the enrollment answer")?;
        serde_json::from_str(&text)
            .with_context(|| format!("the enrollment answer is not JSON: {text:.200}"))
    }
}

fn too_large(len: usize, limit: u64) -> Outcome {
    Outcome::Refused {
        status: 413,
        body: format!(
            "the report is {len} bytes, more than the {limit} bytes the collector accepts (not sent)"
        ),
    }
}

/// What to do about a TLS failure, in plain words (issue 11): the usual
/// cause is a collector certificate this agent does not trust yet.
pub fn tls_hint(err: &str) -> &'static str {
    let e = err.to_ascii_lowercase();
    if e.contains("causedasendentity") || e.contains("ca used as end") {
        "\n  The collector presents a CA certificate as its own (typical of `openssl req -x509`). \
         Copy that certificate file to this host and set `collector.ca_file` to it in agent.toml: \
         it is then pinned and accepted."
    } else if e.contains("unknownissuer")
        || e.contains("unknown issuer")
        || e.contains("certificate")
    {
        "\n  The collector's certificate is not trusted here. Copy the CA that issued it (or the \
         collector's own certificate, to pin it) to this host and set `collector.ca_file` in \
         agent.toml (e.g. /etc/mijian/collector-ca.pem), then enroll again."
    } else {
        ""
    }
}

fn body_excerpt(resp: ureq::Response) -> String {
    let mut s = String::new();
    let _ = resp.into_reader().take(2048).read_to_string(&mut s);
    s.trim().chars().take(300).collect()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client config: ring provider, TLS 1.2/1.3, pinned trust.
pub fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match ca_file {
        Some(path) => {
            let pins: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("cannot read collector.ca_file {}", path.display()))?
                .collect::<Result<_, _>>()
                .with_context(|| {
                    format!(
                        "collector.ca_file {} is not PEM certificates",
                        path.display()
                    )
                })?;
            if pins.is_empty() {
                anyhow::bail!(
                    "collector.ca_file {} holds no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)",
                    path.display()
                );
            }
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(pins.iter().cloned());
            let webpki = if roots.is_empty() {
                None
            } else {
                Some(
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .context("collector.ca_file: cannot build a verifier")?,
                )
            };
            Arc::new(Pinned {
                pins,
                webpki,
                provider: provider.clone(),
            })
        }
        None => {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .context("cannot build the TLS verifier")?
        }
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// Accepts the server if its certificate is one of the pinned ones, else
/// if it chains to one of them as a CA (with the usual name and time checks).
#[derive(Debug)]
struct Pinned {
    pins: Vec<CertificateDer<'static>>,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pins.iter().any(|p| p.as_ref() == end_entity.as_ref()) {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.webpki {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests;

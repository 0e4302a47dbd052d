//! Policy routes (issue 13):
//! - `GET /api/v1/policy/bundle` — the latest signed bundle
//!   (`application/jose+json`) with an `ETag`; `If-None-Match` with that
//!   tag answers 304 and no body, so an agent's poll costs a few hundred
//!   bytes. Readers: an enrolled agent (header `X-Mijian-Agent-Proof`, a
//!   compact JWS of `typ` `mijian-fetch+jws` over
//!   `{"agent_id","iat","aud":"policy"}` made with its key, `iat` within
//!   ten minutes) or staff. 404 while no policy was imported.
//! - `GET /api/v1/policy` — staff: the latest version, its digest and mode.
//! - `GET /api/v1/policy/hosts` — staff: which version each host's latest
//!   report ran, and how many versions it is behind (`limit`, `offset`).

use crate::api::{ApiError, App, Page, query, rfc3339};
use crate::auth::{Staff, now};
use axum::Router;
use axum::extract::{FromRequestParts, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mijian_policy::bundle::{FETCH_SKEW_SECS, FETCH_TYP};
use mijian_report::{Jwk, Jws};
use mijian_store::HostQuery;
use serde_json::{Value, json};

/// Header carrying an agent's fetch proof.
pub const PROOF_HEADER: &str = "x-mijian-agent-proof";

pub fn router() -> Router<App> {
    Router::new()
        .route("/api/v1/policy", get(latest))
        .route("/api/v1/policy/bundle", get(bundle))
        .route("/api/v1/policy/hosts", get(hosts))
}

/// The ETag of a version: changes with the version and its digest.
pub fn etag(version: i64, digest: &str) -> String {
    mijian_policy::bundle::etag(version.max(0) as u64, digest)
}

/// Check an agent's fetch proof; returns its agent id.
async fn agent_proof(app: &App, proof: &str) -> Result<String, ApiError> {
    let bad = |m: &str| ApiError::unauthorized(format!("agent proof refused: {m}"));
    let mut parts = proof.trim().split('.');
    let (Some(p), Some(pl), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a compact JWS"));
    };
    let jws = Jws {
        protected: p.to_string(),
        payload: pl.to_string(),
        signature: sig.to_string(),
    };
    let kid = jws
        .header_typed(FETCH_TYP)
        .map_err(|e| bad(&e.to_string()))?
        .kid
        .unwrap_or_default();
    let k = kid.clone();
    let agent = app
        .blocking(move |s| s.agent(&k))
        .await?
        .ok_or_else(|| bad("unknown agent (enroll it first)"))?;
    if agent.revoked_at.is_some() {
        return Err(bad("agent key is revoked"));
    }
    let key = Jwk::parse(agent.jwk.as_bytes())
        .and_then(|j| j.public_key())
        .map_err(ApiError::internal)?;
    let v = jws
        .verify_typed(&key, FETCH_TYP)
        .map_err(|e| bad(&e.to_string()))?;
    let claims: Value =
        serde_json::from_slice(&v.payload).map_err(|_| bad("payload is not JSON"))?;
    let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(0);
    if claims.get("aud").and_then(Value::as_str) != Some("policy")
        || claims.get("agent_id").and_then(Value::as_str) != Some(kid.as_str())
    {
        return Err(bad("wrong audience or agent_id"));
    }
    if (now() - iat).abs() > FETCH_SKEW_SECS {
        return Err(bad(
            "iat is too far from the collector's clock (check the host's time)",
        ));
    }
    Ok(kid)
}

async fn bundle(State(app): State<App>, req: Request) -> Result<Response, ApiError> {
    let (mut parts, _) = req.into_parts();
    match parts
        .headers
        .get(PROOF_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        Some(proof) => {
            let proof = proof.to_string();
            agent_proof(&app, &proof).await?;
        }
        None => {
            Staff::from_request_parts(&mut parts, &app).await?;
        }
    }
    let latest = app.blocking(|s| s.policy_latest()).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_policy",
            "no policy yet (mijian-collector policy import DIR)",
        )
    })?;
    let tag = etag(latest.version, &latest.digest);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let matches = parts
        .headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == tag || t.trim() == "*");
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jose+json"),
    );
    Ok((StatusCode::OK, headers, latest.bundle).into_response())
}

async fn latest(_staff: Staff, State(app): State<App>) -> Result<axum::Json<Value>, ApiError> {
    let l = app.blocking(|s| s.policy_latest()).await?;
    let history = app.blocking(|s| s.policy_history()).await?;
    Ok(axum::Json(json!({
        "latest": l.map(|v| json!({
            "version": v.version, "digest": v.digest, "mode": v.mode,
            "created_at": rfc3339(v.created_at), "etag": etag(v.version, &v.digest),
            "exceptions": serde_json::from_str::<Value>(&v.exceptions).unwrap_or(Value::Null),
        })),
        "history": history.iter().map(|v| json!({
            "version": v.version, "digest": v.digest, "mode": v.mode, "actor": v.actor,
            "action": v.action, "message": v.message, "created_at": rfc3339(v.created_at),
        })).collect::<Vec<_>>(),
    })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The `policy` object of a host's latest stored report.
fn reported_policy(
    store: &dyn mijian_store::Store,
    agent_id: &str,
    seq: i64,
) -> (Option<i64>, Option<String>) {
    let Ok(Some(jws)) = crate::archive::signed_report(store, agent_id, seq, 64 << 20) else {
        return (None, None);
    };
    let Some(payload) = Jws::parse(&jws).ok().and_then(|j| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(j.payload)
            .ok()
    }) else {
        return (None, None);
    };
    #[derive(serde::Deserialize)]
    struct P {
        policy: Pol,
    }
    #[derive(serde::Deserialize)]
    struct Pol {
        digest: Option<String>,
        version: Option<i64>,
    }
    match serde_json::from_slice::<P>(&payload) {
        Ok(p) => (p.policy.version, p.policy.digest),
        Err(_) => (None, None),
    }
}

async fn hosts(
    _staff: Staff,
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<axum::Json<Value>, ApiError> {
    let f: Filter = query(raw.as_deref())?;
    let page = Page::new(f.limit, f.offset)?;
    let (limit, offset) = (page.limit, page.offset);
    let (latest, rows) = app
        .blocking(move |s| {
            let latest = s.policy_latest()?;
            let hosts = s.hosts(&HostQuery {
                hostname: None,
                compliant: None,
                classification: None,
                silent_since: None,
                limit,
                offset,
            })?;
            let rows: Vec<_> = hosts
                .into_iter()
                .map(|h| {
                    let (v, d) = h
                        .latest_seq
                        .map(|seq| reported_policy(s, &h.agent_id, seq))
                        .unwrap_or((None, None));
                    (h, v, d)
                })
                .collect();
            Ok((latest, rows))
        })
        .await?;
    let (lv, ld) = latest
        .as_ref()
        .map_or((None, None), |l| (Some(l.version), Some(l.digest.clone())));
    let items = rows
        .into_iter()
        .map(|(h, v, d)| {
            let current = ld.is_some() && d == ld;
            json!({
                "agent_id": h.agent_id,
                "hostname": h.hostname,
                "last_seen": h.last_seen.map(rfc3339),
                "policy_version": v,
                "policy_digest": d,
                "current": current,
                "behind": match (lv, v) {
                    (Some(l), Some(v)) => Some((l - v).max(0)),
                    // No bundle applied yet (local rules): behind by every version.
                    (Some(l), None) if !current => Some(l),
                    _ => None,
                },
            })
        })
        .collect();
    let mut v = page.wrap(items);
    v.0["latest_version"] = json!(lv);
    v.0["latest_digest"] = json!(ld);
    Ok(v)
}

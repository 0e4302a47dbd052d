//! Staff authentication: bearer tokens (API tokens from `api-token create`,
//! and session tokens from `POST /api/v1/login`) and HTTP Basic with a staff
//! account. Passwords are argon2id hashes (PHC strings); tokens are random
//! 256-bit values stored only as their SHA-256, so a stolen database holds
//! no usable credential. Agents never authenticate here: their reports carry
//! their own signatures.

use crate::api::{ApiError, App};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine;
use mijian_store::Role;

/// An authenticated staff member or API client.
#[derive(Debug, Clone)]
pub struct Staff {
    pub role: Role,
}

impl Staff {
    /// Refuse unless admin.
    pub fn admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this needs the admin role",
            ))
        }
    }
}

/// A new random token with a recognisable prefix (`mjt_` API, `mje_` enrollment).
pub fn new_token(prefix: &str) -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    mijian_report::sha256_hex(token.as_bytes())
}

/// An argon2id PHC hash of a password.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))
}

/// Whether `password` matches a stored PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Check name and password; the user's role when they match.
pub async fn login(app: &App, name: String, password: String) -> Result<Role, ApiError> {
    let user = app.blocking(move |s| s.user(&name)).await?;
    let Some(user) = user else {
        // Spend the same time as a real check so names cannot be probed by timing.
        let _ = tokio::task::spawn_blocking(move || {
            static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let dummy = DUMMY.get_or_init(|| hash_password("mijian-dummy").unwrap_or_default());
            verify_password(&password, dummy)
        })
        .await;
        return Err(ApiError::unauthorized("wrong name or password"));
    };
    let ok = tokio::task::spawn_blocking(move || {
        verify_password(&password, &user.password_hash).then_some(user.role)
    })
    .await
    .map_err(ApiError::internal)?;
    ok.ok_or_else(|| ApiError::unauthorized("wrong name or password"))
}

/// The credentials after `scheme ` (scheme matched case-insensitively).
fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then_some(rest)
}

impl FromRequestParts<App> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized("log in: send Authorization: Bearer TOKEN (mijian-collector api-token create, or POST /api/v1/login)")
            })?;
        // Auth schemes are case-insensitive (RFC 9110 §11.1).
        if let Some(token) = strip_scheme(value, "bearer") {
            let hash = token_hash(token.trim());
            let role = app.blocking(move |s| s.api_token(&hash, now())).await?;
            return role
                .map(|role| Staff { role })
                .ok_or_else(|| ApiError::unauthorized("unknown or expired token"));
        }
        if let Some(b64) = strip_scheme(value, "basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ApiError::unauthorized("malformed Basic credentials"))?;
            let (name, password) = decoded
                .split_once(':')
                .ok_or_else(|| ApiError::unauthorized("malformed Basic credentials"))?;
            let role = login(app, name.to_string(), password.to_string()).await?;
            return Ok(Staff { role });
        }
        Err(ApiError::unauthorized(
            "unsupported Authorization scheme (use Bearer or Basic)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = new_token("mjt_");
        assert!(a.starts_with("mjt_") && a.len() > 40);
        assert_ne!(a, new_token("mjt_"));
        assert_eq!(token_hash(&a).len(), 64);
    }
}

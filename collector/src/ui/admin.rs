//! The system administrator's page (系统管理员): staff accounts, API tokens,
//! enrollment tokens and agent keys. Nothing here reads findings or the
//! audit log (三员分立); every change is audited.

use super::{UiError, UiResult, lang, page_ctx, render, role_label, tr};
use crate::api::App;
use crate::auth::{
    Perm, Staff, check_password, check_user_name, hash_password, new_token, now, token_hash,
};
use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use mijian_store::{Role, TokenRevoked};
use serde::Deserialize;
use serde_json::json;

pub async fn page(staff: Staff, State(app): State<App>, headers: HeaderMap) -> UiResult {
    staff.require(Perm::Accounts)?;
    let lang = lang(&headers);
    let (users, tokens, agents) = app
        .blocking(|s| {
            Ok((
                s.console().users()?,
                s.api_tokens()?,
                s.console().agents(1000)?,
            ))
        })
        .await?;
    let users: Vec<_> = users
        .iter()
        .map(|u| {
            json!({"name": u.name, "role": u.role.as_str(), "role_label": role_label(lang, u.role),
                   "created_at": u.created_at, "locked": u.locked_until.is_some_and(|l| l > now()),
                   "locked_until": u.locked_until, "failed": u.failed_logins})
        })
        .collect();
    let tokens: Vec<_> = tokens
        .iter()
        .map(|t| {
            json!({"id": t.id, "role_label": role_label(lang, t.role), "label": t.label,
                   "created_at": t.created_at, "expires_at": t.expires_at})
        })
        .collect();
    let agents: Vec<_> = agents
        .iter()
        .map(|a| {
            json!({"agent_id": a.agent_id, "hostname": a.hostname, "enrolled_at": a.enrolled_at,
                   "revoked_at": a.revoked_at})
        })
        .collect();
    let roles: Vec<_> = ["admin", "secadmin", "auditor"]
        .iter()
        .map(|r| json!({"v": r, "label": tr(lang, &format!("role.{r}"))}))
        .collect();
    Ok(render(
        "admin.html",
        page_ctx(&staff, lang, "admin"),
        json!({"users": users, "tokens": tokens, "agents": agents, "roles": roles}),
    ))
}

#[derive(Deserialize)]
pub struct UserForm {
    name: String,
    role: String,
    password: String,
}

pub async fn user_save(staff: Staff, State(app): State<App>, Form(f): Form<UserForm>) -> UiResult {
    staff.require(Perm::Accounts)?;
    check_user_name(&f.name).map_err(UiError::bad)?;
    check_password(&f.password).map_err(UiError::bad)?;
    let role = Role::parse(&f.role).ok_or_else(|| UiError::bad("unknown role"))?;
    let hash =
        hash_password(&f.password).map_err(|e| UiError::from(crate::api::ApiError::internal(e)))?;
    let name = f.name.clone();
    app.blocking(move |s| {
        s.put_user(&name, role, &hash, now())?;
        // A changed password or role ends the account's sessions.
        s.console().delete_sessions_of(&name)
    })
    .await?;
    app.auth
        .audit_staff(
            &staff,
            "user.save",
            Some(f.name),
            Some(format!("role {}", role.as_str())),
        )
        .await?;
    Ok(Redirect::to("/admin").into_response())
}

#[derive(Deserialize)]
pub struct NameForm {
    name: String,
}

pub async fn user_delete(
    staff: Staff,
    State(app): State<App>,
    Form(f): Form<NameForm>,
) -> UiResult {
    staff.require(Perm::Accounts)?;
    if f.name == staff.name {
        return Err(UiError::bad("you cannot delete your own account"));
    }
    let name = f.name.clone();
    if !app
        .blocking(move |s| s.console().delete_user(&name))
        .await?
    {
        return Err(UiError::not_found());
    }
    app.auth
        .audit_staff(&staff, "user.delete", Some(f.name), None)
        .await?;
    Ok(Redirect::to("/admin").into_response())
}

#[derive(Deserialize)]
pub struct TokenForm {
    role: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    expires: String,
}

/// A new secret, shown once.
fn shown_once(staff: &Staff, lang: &str, title: &str, secret: String) -> UiResult {
    Ok(render(
        "message.html",
        page_ctx(staff, lang, "admin"),
        json!({"title": tr(lang, title), "secret": secret, "message": tr(lang, "admin.shown_once"),
               "back": "/admin"}),
    ))
}

pub async fn token_create(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> UiResult {
    staff.require(Perm::Accounts)?;
    let role = Role::parse(&f.role).ok_or_else(|| UiError::bad("unknown role"))?;
    let expires_at = if f.expires.trim().is_empty() {
        None
    } else {
        Some(
            now()
                + crate::cli::parse_duration(&f.expires)
                    .map_err(|e| UiError::bad(e.to_string()))?,
        )
    };
    let label: Option<String> =
        Some(f.label.trim().chars().take(100).collect::<String>()).filter(|l| !l.is_empty());
    let token = new_token("mjt_");
    let hash = token_hash(&token);
    let l2 = label.clone();
    app.blocking(move |s| s.create_api_token(&hash, role, l2.as_deref(), expires_at, now()))
        .await?;
    app.auth
        .audit_staff(
            &staff,
            "api_token.create",
            label,
            Some(format!("role {}", role.as_str())),
        )
        .await?;
    shown_once(&staff, lang(&headers), "admin.token_created", token)
}

#[derive(Deserialize)]
pub struct IdForm {
    id: String,
}

pub async fn token_revoke(staff: Staff, State(app): State<App>, Form(f): Form<IdForm>) -> UiResult {
    staff.require(Perm::Accounts)?;
    let id = f.id.clone();
    let r = app
        .blocking(move |s| s.revoke_api_token(&id))
        .await
        .map_err(|_| UiError::bad("a token id is at least 8 hex digits"))?;
    if r != TokenRevoked::Revoked {
        return Err(UiError::bad(
            "no single token has this id; give more digits",
        ));
    }
    app.auth
        .audit_staff(&staff, "api_token.revoke", Some(f.id), None)
        .await?;
    Ok(Redirect::to("/admin").into_response())
}

#[derive(Deserialize)]
pub struct EnrollForm {
    uses: i64,
    #[serde(default)]
    expires: String,
}

pub async fn enroll_create(
    staff: Staff,
    State(app): State<App>,
    headers: HeaderMap,
    Form(f): Form<EnrollForm>,
) -> UiResult {
    staff.require(Perm::Agents)?;
    if !(1..=100_000).contains(&f.uses) {
        return Err(UiError::bad("uses must be 1..=100000"));
    }
    let secs = crate::cli::parse_duration(if f.expires.trim().is_empty() {
        "24h"
    } else {
        &f.expires
    })
    .map_err(|e| UiError::bad(e.to_string()))?;
    let token = new_token("mje_");
    let hash = token_hash(&token);
    let uses = f.uses;
    app.blocking(move |s| s.create_enroll_token(&hash, uses, Some(now() + secs), now()))
        .await?;
    app.auth
        .audit_staff(
            &staff,
            "enroll_token.create",
            None,
            Some(format!("{uses} use(s), {secs} s")),
        )
        .await?;
    shown_once(&staff, lang(&headers), "admin.enroll_created", token)
}

pub async fn agent_revoke(staff: Staff, State(app): State<App>, Form(f): Form<IdForm>) -> UiResult {
    staff.require(Perm::Agents)?;
    let id = f.id.clone();
    if !app.blocking(move |s| s.revoke_agent(&id, now())).await? {
        return Err(UiError::not_found());
    }
    app.auth
        .audit_staff(&staff, "agent.revoke", Some(f.id), None)
        .await?;
    Ok(Redirect::to("/admin").into_response())
}

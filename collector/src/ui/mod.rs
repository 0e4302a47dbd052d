//! The staff web UI (a later issue): templates and handlers go here, mounted
//! beside the API by [`router`], behind the same [`crate::auth::Staff`] login.
//! Today it serves nothing, so every UI path falls through to the API's 404.

use crate::api::App;
use axum::Router;

/// Routes of the web UI (none yet).
pub fn router() -> Router<App> {
    Router::new()
}

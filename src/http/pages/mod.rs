//! The self-service pages: the activation form (`/activate`), the status of the activation it
//! started (`/activate/status`) and the verification link's page (`/confirmations/verify`).
//!
//! HTML from askama templates (`templates/`, checked when the crate compiles), worded from the
//! catalogue's `[page]` table in the visitor's language (`frame::language`). No script and no
//! inline style anywhere: every answer carries a Content-Security-Policy that allows neither
//! (`frame::security_headers`), and the one stylesheet is served by the binary. The form is
//! protected by a double-submit token (`cookies`); what a visitor gets wrong — a missing or
//! wrong token, invalid fields, an unknown link or activation — is charged to their address
//! like refused API keys (`limits.rs`), so an address that keeps failing gets 429.

mod activate;
pub(super) mod cookies;
mod form;
pub(super) mod frame;
mod status;
mod verify;

use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::public;

/// Anyone may open these pages: they show only what the visitor typed, or what belongs to the
/// activation their browser started (`cookies::Cookie::Activation`) or whose link they hold.
pub fn router() -> OpenApiRouter<AppState> {
    public(
        OpenApiRouter::new()
            .routes(routes!(activate::form, activate::submit))
            .routes(routes!(status::status))
            .routes(routes!(verify::verify))
            .routes(routes!(stylesheet))
            .route_layer(middleware::map_response(frame::security_headers)),
    )
}

/// The pages' stylesheet, embedded in the binary.
#[utoipa::path(get, path = "/static/pages.css", tag = "pages",
    responses((status = 200, content_type = "text/css", body = String, description = "the public pages' stylesheet")))]
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        include_str!("../../../static/pages.css"),
    )
}

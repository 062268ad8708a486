//! The benchmark's reference route, compiled only with `--features bench`: production builds
//! neither serve it nor know its setting.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::public;

/// Public so that the reference pays nothing the webhooks do not: they carry no key either.
pub fn router() -> OpenApiRouter<AppState> {
    public(OpenApiRouter::new().routes(routes!(reference)))
}

/// The same server and HTTP stack as the webhooks, a constant TwiML answer and no work: what
/// `proxycall bench` compares every load with.
#[utoipa::path(post, path = "/bench/twiml", tag = "operations",
    responses((status = 200, content_type = "text/xml", body = String, description = "empty TwiML")))]
pub async fn reference() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        crate::twiml::empty(),
    )
}

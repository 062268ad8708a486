//! `GET /docs`: the interactive API documentation, as the earlier FastAPI version offered it.
//! Swagger UI's files are embedded in the binary (`utoipa-swagger-ui`'s `vendored` feature:
//! nothing is downloaded, at build time or by the browser) and read `/openapi.json`, the
//! document the routes are checked against. "Authorize" takes an API key (the bearer scheme
//! of `openapi.rs`).
//!
//! Swagger UI is a script: its pages get their own Content-Security-Policy, which allows this
//! server's scripts, styles and API and the `data:` images of its stylesheet, and nothing
//! else (no inline script, no other origin, no framing).

use std::sync::{Arc, LazyLock};

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::Config;

use super::AppState;
use super::access::public;
use super::error::{ApiError, ErrorCode};

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

static CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        Config::new(["/openapi.json"])
            // A key typed in "Authorize" stays in the tab, never in the browser's storage.
            .persist_authorization(false)
            .display_request_duration(true),
    )
});

pub fn router() -> OpenApiRouter<AppState> {
    public(
        OpenApiRouter::new()
            .routes(routes!(docs))
            .routes(routes!(index))
            .routes(routes!(file)),
    )
}

/// The documentation's address: its files are relative to `/docs/`.
#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 308, description = "to `/docs/`, Swagger UI")))]
pub async fn docs() -> Redirect {
    Redirect::permanent("/docs/")
}

/// Swagger UI on this server's `/openapi.json`.
#[utoipa::path(get, path = "/docs/", tag = "operations",
    responses((status = 200, content_type = "text/html", body = String,
        description = "Swagger UI's page")))]
pub async fn index() -> Response {
    serve("index.html")
}

/// Swagger UI's scripts, stylesheets and icons.
#[utoipa::path(get, path = "/docs/{file}", tag = "operations",
    params(("file" = String, Path, description = "a file of Swagger UI",
        example = "swagger-ui-bundle.js")),
    responses((status = 200, description = "the file"),
        (status = 404, body = super::error::ErrorBody, description = "no such file")))]
pub async fn file(Path(file): Path<String>) -> Response {
    serve(&file)
}

fn serve(file: &str) -> Response {
    let found = match utoipa_swagger_ui::serve(file, CONFIG.clone()) {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, file, "Swagger UI's file could not be made");
            return ApiError::internal().into_response();
        }
    };
    let Some(found) = found else {
        return ApiError::new(ErrorCode::NotFound, "no such file in the documentation")
            .into_response();
    };
    let mut response = (StatusCode::OK, found.bytes.into_owned()).into_response();
    let headers = response.headers_mut();
    if let Ok(kind) = HeaderValue::from_str(&found.content_type) {
        headers.insert(header::CONTENT_TYPE, kind);
    }
    if found.gzpipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // The initializer names this server's document; the rest changes with the binary only.
    let cache = if file.ends_with(".html") || file == "swagger-initializer.js" {
        "no-cache"
    } else {
        "public, max-age=3600"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

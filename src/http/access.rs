//! Who may call a route, stated where the route is registered.
//!
//! Every route goes through exactly one of three wrappers in its module's `router()`:
//! [`scoped`] (an API key with that scope), [`twilio_signed`] (Twilio's signature) or
//! [`public`] (anyone). The wrapper both enforces the access and writes it into the route's
//! OpenAPI operation (`security`, plus the `x-proxycall-access` marker), so the document cannot
//! say something else than what is enforced. Forgetting the wrapper is loud, not a default:
//! [`assert_declared`] stops the server from starting when an operation states no access, and
//! [`only_declared`] refuses any request to a route missing from the document.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::OpenApi;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::SecurityRequirement;
use utoipa_axum::router::OpenApiRouter;

use super::AppState;
use super::auth;
use super::error::{ApiError, ErrorCode};
use crate::domain::Scope;

/// The security scheme of API keys in the OpenAPI document.
pub const API_KEY_SCHEME: &str = "api_key";
/// The security scheme of Twilio's webhook signature in the OpenAPI document.
pub const TWILIO_SCHEME: &str = "twilio_signature";
/// The security scheme of the dashboard's session cookie in the OpenAPI document.
pub const OPERATOR_SESSION_SCHEME: &str = "operator_session";
/// Set only by the wrappers: an operation that states its security in `#[utoipa::path]`
/// without going through one would otherwise look protected while nothing enforces it.
const MARKER: &str = "x-proxycall-access";

/// Routes that need an API key holding `scope` (or `admin`). The key, the per-key limit (or
/// for a refused attempt the per-address one) and then the scope are checked by
/// `auth::require_key`, before the handler.
pub fn scoped(
    state: &AppState,
    scope: Scope,
    routes: OpenApiRouter<AppState>,
) -> OpenApiRouter<AppState> {
    declare(
        routes,
        vec![SecurityRequirement::new(API_KEY_SCHEME, [scope.as_str()])],
        scope.as_str(),
    )
    .route_layer(middleware::from_fn_with_state(
        (state.clone(), scope),
        auth::require_key,
    ))
}

/// Twilio's webhooks: no API key, but their handlers read the form through
/// `twilio::SignedForm`, which refuses (403) a request without a valid `X-Twilio-Signature`
/// before anything else happens. Only routes whose handler takes a `SignedForm` belong here.
pub fn twilio_signed(routes: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    declare(
        routes,
        vec![SecurityRequirement::new(
            TWILIO_SCHEME,
            Vec::<String>::new(),
        )],
        "twilio-signed",
    )
}

/// The dashboard's pages: an operator's live session (`admin::session::require`: the cookie,
/// idle and absolute expiry, the second factor, the enrolment the settings may require, and on
/// every POST the form's CSRF token). Without one, the browser is sent to `/admin/login`.
/// Which role a page needs, its handler states with the `RequireRole` extractor.
pub fn operator_session(
    state: &AppState,
    routes: OpenApiRouter<AppState>,
) -> OpenApiRouter<AppState> {
    declare(
        routes,
        vec![SecurityRequirement::new(
            OPERATOR_SESSION_SCHEME,
            Vec::<String>::new(),
        )],
        "operator-session",
    )
    .route_layer(middleware::from_fn_with_state(
        state.clone(),
        super::admin::require_session,
    ))
}

/// Routes anyone may call, without a key or a signature. Putting a route here is a deliberate
/// choice: it must reveal and change nothing a stranger should not see or change (health,
/// readiness, the API description).
pub fn public(routes: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    // `security: []` is OpenAPI's explicit "no authentication".
    declare(routes, Vec::new(), "public")
}

fn declare<S: Clone + Send + Sync + 'static>(
    mut routes: OpenApiRouter<S>,
    security: Vec<SecurityRequirement>,
    access: &str,
) -> OpenApiRouter<S> {
    for (path, item) in routes.get_openapi_mut().paths.paths.iter_mut() {
        for (method, operation) in operations_mut(item) {
            assert!(
                operation.security.is_none(),
                "{method} {path} states its security in #[utoipa::path]; state it with \
                 scoped(), twilio_signed(), operator_session() or public() in its module's router() instead"
            );
            assert!(
                marker(operation).is_none(),
                "{method} {path} is wrapped twice for its access"
            );
            operation.security = Some(security.clone());
            operation
                .extensions
                .get_or_insert_with(Extensions::default)
                .insert(MARKER.to_owned(), access.into());
        }
    }
    routes
}

fn marker(operation: &Operation) -> Option<&serde_json::Value> {
    operation.extensions.as_ref().and_then(|e| e.get(MARKER))
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (Method, &mut Operation)> {
    [
        (Method::GET, &mut item.get),
        (Method::PUT, &mut item.put),
        (Method::POST, &mut item.post),
        (Method::DELETE, &mut item.delete),
        (Method::OPTIONS, &mut item.options),
        (Method::HEAD, &mut item.head),
        (Method::PATCH, &mut item.patch),
        (Method::TRACE, &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
}

fn operations(item: &PathItem) -> impl Iterator<Item = (Method, &Operation)> {
    [
        (Method::GET, &item.get),
        (Method::PUT, &item.put),
        (Method::POST, &item.post),
        (Method::DELETE, &item.delete),
        (Method::OPTIONS, &item.options),
        (Method::HEAD, &item.head),
        (Method::PATCH, &item.patch),
        (Method::TRACE, &item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_ref().map(|op| (method, op)))
}

fn operation<'a>(item: &'a PathItem, method: &Method) -> Option<&'a Operation> {
    // axum answers HEAD with the GET route.
    match *method {
        Method::GET | Method::HEAD => item.get.as_ref().or(item.head.as_ref()),
        Method::PUT => item.put.as_ref(),
        Method::POST => item.post.as_ref(),
        Method::DELETE => item.delete.as_ref(),
        Method::OPTIONS => item.options.as_ref(),
        Method::PATCH => item.patch.as_ref(),
        Method::TRACE => item.trace.as_ref(),
        _ => None,
    }
}

/// Panics, at start-up, if an operation of the merged document did not go through a wrapper:
/// a route nobody decided the access of must not be served.
pub fn assert_declared(doc: &OpenApi) {
    let mut undeclared = Vec::new();
    for (path, item) in &doc.paths.paths {
        for (method, operation) in operations(item) {
            if marker(operation).is_none() {
                undeclared.push(format!("{method} {path}"));
            }
        }
    }
    assert!(
        undeclared.is_empty(),
        "routes without a stated access: {}; register each in its module's router() inside \
         scoped(), twilio_signed() or public()",
        undeclared.join(", ")
    );
}

/// Refuses (500, logged) a request to a route the OpenAPI document does not hold: one added
/// with a plain `.route()`, which no wrapper has seen. A method the document does not hold on
/// a path it does is 405 here, before any handler: only this way can a method added to a
/// documented path with a plain `.route()` not run unchecked. Runs before the wrappers' layers.
pub async fn only_declared(State(doc): State<Arc<OpenApi>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let Some(item) = route.and_then(|r| doc.paths.paths.get(r)) else {
        tracing::error!(
            method = %req.method(),
            route = route.unwrap_or("-"),
            "refused: this route states no access (it is missing from the OpenAPI document)"
        );
        return ApiError::internal().into_response();
    };
    match operation(item, req.method()) {
        Some(op) if marker(op).is_some() => next.run(req).await,
        _ => {
            let allow: Vec<String> = operations(item).map(|(m, _)| m.to_string()).collect();
            let mut response = ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("this route answers {}", allow.join(", ")),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&allow.join(",")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;
    use utoipa_axum::routes;

    use super::*;

    #[utoipa::path(get, path = "/open")]
    async fn open() -> &'static str {
        "open"
    }

    #[utoipa::path(get, path = "/claims", security(("api_key" = ["read"])))]
    async fn claims() -> &'static str {
        "claims"
    }

    #[test]
    #[should_panic(expected = "GET /open")]
    fn a_route_without_a_wrapper_stops_the_start() {
        let (_, doc) = OpenApiRouter::<()>::new()
            .routes(routes!(open))
            .split_for_parts();
        assert_declared(&doc);
    }

    #[test]
    #[should_panic(expected = "GET /claims states its security")]
    fn security_stated_in_the_annotation_is_refused() {
        declare(
            OpenApiRouter::<()>::new().routes(routes!(claims)),
            Vec::new(),
            "public",
        );
    }

    #[test]
    #[should_panic(expected = "GET /claims")]
    fn security_stated_in_the_annotation_without_a_wrapper_stops_the_start() {
        let (_, doc) = OpenApiRouter::<()>::new()
            .routes(routes!(claims))
            .split_for_parts();
        assert_declared(&doc);
    }

    #[tokio::test]
    async fn a_route_missing_from_the_document_is_refused() {
        let (router, doc) = declare(
            OpenApiRouter::<()>::new().routes(routes!(open)),
            Vec::new(),
            "public",
        )
        .route("/hidden", get(|| async { "hidden" }))
        .split_for_parts();
        assert_declared(&doc);
        let router =
            router.route_layer(middleware::from_fn_with_state(Arc::new(doc), only_declared));
        let status = |path: &'static str| {
            let router = router.clone();
            async move {
                router
                    .oneshot(Request::get(path).body(Body::empty()).unwrap())
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(status("/open").await, 200);
        assert_eq!(status("/hidden").await, 500);
        let delete = router
            .oneshot(Request::delete("/open").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(delete.status(), 405);
        assert_eq!(delete.headers()[header::ALLOW], "GET");
    }
}

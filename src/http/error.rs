//! The one mapping from errors to HTTP: JSON `{code, message, field?}` with the status
//! SPEC §4 gives. `detail` repeats the message for integrations written against the earlier
//! version, which read `detail`. Internal errors are logged and answered with a generic text:
//! no cause, query or stack trace leaves the server.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::{AppError, PoolBreakdown};
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub available: Option<Box<PoolBreakdown>>,
    /// With `no_candidates`: why each number type had nothing to offer.
    pub reasons: Option<Box<BTreeMap<&'static str, String>>>,
    pub retry_after_secs: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_input`, `not_found`, `pool_exhausted`.
    code: &'static str,
    /// Human-readable explanation.
    message: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// Same as `message`, for integrations written against the earlier version.
    detail: String,
    /// With `pool_exhausted`: available numbers of the country by type, and their total.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    available: Option<Box<PoolBreakdown>>,
    /// With `no_candidates`: why each number type (`mobile`, `local`) had nothing to offer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    reasons: Option<BTreeMap<&'static str, String>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            available: None,
            reasons: None,
            retry_after_secs: None,
        }
    }

    /// 422 naming the field at fault.
    pub fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        let field = field.into();
        Self {
            message: format!("{field}: {message}"),
            field: Some(field),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", "")
        }
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests: slow down and retry after the delay in Retry-After",
            )
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the request id in x-request-id identifies it in the logs",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::NotFound { what } => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            AppError::Invalid { field, message } => Self::invalid(field, message),
            AppError::Conflict { code, message } => Self::new(StatusCode::CONFLICT, code, message),
            e @ AppError::PoolExhausted { .. } => {
                let message = e.to_string();
                let AppError::PoolExhausted { available, .. } = e else {
                    unreachable!()
                };
                Self {
                    available: Some(Box::new(available)),
                    ..Self::new(StatusCode::CONFLICT, "pool_exhausted", message)
                }
            }
            AppError::NoNumbers { message, reasons } => Self {
                reasons: Some(Box::new(reasons)),
                ..Self::new(StatusCode::CONFLICT, "no_candidates", message)
            },
            AppError::Carrier(e) => {
                use crate::carrier::CarrierError;
                let (status, code) = match &e {
                    CarrierError::AddressNotInBundle => {
                        (StatusCode::CONFLICT, "address_not_in_bundle")
                    }
                    CarrierError::BundleMismatch => (StatusCode::CONFLICT, "bundle_mismatch"),
                    CarrierError::Rejected { .. } => (StatusCode::BAD_GATEWAY, "carrier_refused"),
                    _ => (StatusCode::SERVICE_UNAVAILABLE, "carrier_unavailable"),
                };
                tracing::warn!(error = %e, "carrier error");
                Self::new(status, code, e.to_string())
            }
            AppError::Store(StoreError::Database(
                e @ (sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed),
            )) => {
                tracing::error!(error = %e, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; retry later",
                )
            }
            AppError::Store(e) => {
                tracing::error!(error = %e, "store error");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::debug!(code = self.code, "answered with a server error");
        }
        let body = ErrorBody {
            code: self.code,
            detail: self.message.clone(),
            message: self.message,
            field: self.field,
            available: self.available,
            reasons: self.reasons.map(|r| *r),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

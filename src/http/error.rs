//! The one mapping from errors to HTTP: JSON `{code, message, field?}` with the status
//! SPEC §4 gives. `detail` repeats the message for integrations written against the earlier
//! version, which read `detail`. Internal errors are logged and answered with a generic text:
//! no cause, query or stack trace leaves the server.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::{AppError, ConflictKind, PoolBreakdown};
use crate::store::StoreError;

/// Every error code the API answers, each with its status: chosen here, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    MalformedJson,
    InvalidInput,
    Unauthorized,
    Forbidden,
    BadSignature,
    NotFound,
    /// Something that was here and is no longer (an expired voicemail link).
    Gone,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    /// Activation: a request for a code too soon after the last one.
    Cooldown,
    DailyLimitPhone,
    DailyLimitEmail,
    OrderConflict,
    ClientExists,
    ProxyTaken,
    NumberExists,
    NotPending,
    PendingIdTaken,
    PoolExhausted,
    NoCandidates,
    BundleMismatch,
    AddressNotInBundle,
    CarrierRefused,
    CarrierUnavailable,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest | Self::MalformedJson => StatusCode::BAD_REQUEST,
            Self::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::BadSignature => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Gone => StatusCode::GONE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited | Self::Cooldown | Self::DailyLimitPhone | Self::DailyLimitEmail => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::OrderConflict
            | Self::ClientExists
            | Self::ProxyTaken
            | Self::NumberExists
            | Self::NotPending
            | Self::PendingIdTaken
            | Self::PoolExhausted
            | Self::NoCandidates
            | Self::BundleMismatch
            | Self::AddressNotInBundle => StatusCode::CONFLICT,
            Self::CarrierRefused => StatusCode::BAD_GATEWAY,
            Self::CarrierUnavailable | Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `code` of the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::MalformedJson => "malformed_json",
            Self::InvalidInput => "invalid_input",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::BadSignature => "bad_signature",
            Self::NotFound => "not_found",
            Self::Gone => "gone",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            // The earlier web app's codes, kept for its integrations.
            Self::Cooldown => "COOLDOWN",
            Self::DailyLimitPhone => "DAILY_LIMIT_PHONE",
            Self::DailyLimitEmail => "DAILY_LIMIT_EMAIL",
            Self::OrderConflict => "order_conflict",
            Self::ClientExists => "client_exists",
            Self::ProxyTaken => "proxy_taken",
            Self::NumberExists => "number_exists",
            Self::NotPending => "not_pending",
            Self::PendingIdTaken => "pending_id_taken",
            Self::PoolExhausted => "pool_exhausted",
            Self::NoCandidates => "no_candidates",
            Self::BundleMismatch => "bundle_mismatch",
            Self::AddressNotInBundle => "address_not_in_bundle",
            Self::CarrierRefused => "carrier_refused",
            Self::CarrierUnavailable => "carrier_unavailable",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl From<ConflictKind> for ErrorCode {
    fn from(kind: ConflictKind) -> Self {
        match kind {
            ConflictKind::OrderConflict => Self::OrderConflict,
            ConflictKind::ClientExists => Self::ClientExists,
            ConflictKind::ProxyTaken => Self::ProxyTaken,
            ConflictKind::NumberExists => Self::NumberExists,
            ConflictKind::BundleMismatch => Self::BundleMismatch,
            ConflictKind::NotPending => Self::NotPending,
            ConflictKind::PendingIdTaken => Self::PendingIdTaken,
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    pub available: Option<Box<PoolBreakdown>>,
    /// With `no_candidates`: why each number type had nothing to offer.
    pub reasons: Option<Box<BTreeMap<&'static str, String>>>,
    pub retry_after_secs: Option<u64>,
}

/// The body of every error answer: `{code, message, field?}`, with `detail` repeating the
/// message.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "code": "invalid_input",
    "message": "phone: must be an E.164 number such as +33601020304: '+' and 8 to 15 digits, without spaces, dashes or letters",
    "field": "phone",
    "detail": "phone: must be an E.164 number such as +33601020304: '+' and 8 to 15 digits, without spaces, dashes or letters"
}))]
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
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: code.status(),
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
            ..Self::new(ErrorCode::InvalidInput, "")
        }
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(
                ErrorCode::RateLimited,
                "too many requests: slow down and retry after the delay in Retry-After",
            )
        }
    }

    pub fn internal() -> Self {
        Self::new(
            ErrorCode::Internal,
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
            AppError::NotFound { what } => {
                Self::new(ErrorCode::NotFound, format!("{what} not found"))
            }
            AppError::Invalid { field, message } => Self::invalid(field, message),
            AppError::Conflict { kind, message } => Self::new(kind.into(), message),
            e @ AppError::PoolExhausted { .. } => {
                let message = e.to_string();
                let AppError::PoolExhausted { available, .. } = e else {
                    unreachable!()
                };
                Self {
                    available: Some(Box::new(available)),
                    ..Self::new(ErrorCode::PoolExhausted, message)
                }
            }
            AppError::TooManyRequests { code, retry_after } => {
                let code = match code {
                    "DAILY_LIMIT_PHONE" => ErrorCode::DailyLimitPhone,
                    "DAILY_LIMIT_EMAIL" => ErrorCode::DailyLimitEmail,
                    _ => ErrorCode::Cooldown,
                };
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Self {
                    retry_after_secs: Some(secs.max(1)),
                    ..Self::new(
                        code,
                        format!(
                            "too many requests for a code ({}): retry in {} s",
                            code.as_str(),
                            secs.max(1)
                        ),
                    )
                }
            }
            AppError::NoNumbers { message, reasons } => Self {
                reasons: Some(Box::new(reasons)),
                ..Self::new(ErrorCode::NoCandidates, message)
            },
            AppError::Carrier(e) => {
                use crate::carrier::CarrierError;
                let code = match &e {
                    CarrierError::AddressNotInBundle => ErrorCode::AddressNotInBundle,
                    CarrierError::BundleMismatch => ErrorCode::BundleMismatch,
                    CarrierError::Rejected { .. } => ErrorCode::CarrierRefused,
                    _ => ErrorCode::CarrierUnavailable,
                };
                tracing::warn!(error = %e, "carrier error");
                Self::new(code, e.to_string())
            }
            AppError::Store(e) if e.is_unavailable() => {
                tracing::error!(error = %e, "database unavailable");
                Self::new(
                    ErrorCode::Unavailable,
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
            tracing::debug!(code = self.code.as_str(), "answered with a server error");
        }
        let body = ErrorBody {
            code: self.code.as_str(),
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

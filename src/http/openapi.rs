//! The OpenAPI document served at `/openapi.json`; paths are collected from the handlers.

use utoipa::Modify;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::access::{API_KEY_SCHEME, OPERATOR_SESSION_SCHEME, TWILIO_SCHEME};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "ProxyCall",
        description = "Masked phone numbers: each client gets a proxy number; third parties \
            reach the client through it without seeing the real number. Business routes need \
            `Authorization: Bearer <key>` with the scope named in their `security`; errors are \
            `{code, message, field?}`."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "orders", description = "New orders from the shop"),
        (name = "clients", description = "Clients and their proxies"),
        (name = "pool", description = "The numbers ProxyCall hands out"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "twilio", description = "Webhooks Twilio calls, signed with X-Twilio-Signature"),
        (name = "admin", description = "The operators' dashboard: HTML pages behind a login"),
        (name = "voicemail", description = "Voicemail listen links, texted to clients"),
    )
)]
pub struct ApiDoc;

/// The schemes operations refer to; which one an operation needs is written by the wrapper it
/// is registered with (`http/access.rs`).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key; the operation names the scope it needs (`admin` holds all)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            TWILIO_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Twilio-Signature",
                "HMAC-SHA1 of PUBLIC_BASE_URL + path + query and the sorted form, with Twilio's \
                 auth token",
            ))),
        );
        components.add_security_scheme(
            OPERATOR_SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "pc_admin",
                "An operator's session, opened at /admin/login (`__Secure-pc_admin` over https)",
            ))),
        );
    }
}

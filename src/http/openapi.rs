//! The OpenAPI document served at `/openapi.json`; paths are collected from the handlers.

use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "ProxyCall",
        description = "Masked phone numbers: each client gets a proxy number; third parties \
            reach the client through it without seeing the real number. Business routes need \
            `Authorization: Bearer <key>`; errors are `{code, message, field?}`."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "orders", description = "New orders from the shop"),
        (name = "clients", description = "Clients and their proxies"),
        (name = "pool", description = "The numbers ProxyCall hands out"),
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "twilio", description = "Webhooks Twilio calls, signed with X-Twilio-Signature"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

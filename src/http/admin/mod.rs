//! The operators' dashboard under `/admin`: server-rendered pages (askama templates in
//! `templates/admin/`, wording in the catalogues' `[admin]` table), French by default, with no
//! script and no inline style, under the pages' security headers (`pages::frame`).
//!
//! The login pages are public; every other page sits behind `access::operator_session`, whose
//! layer (`session::require_session`) checks the session, the second factor and each POST's
//! CSRF token, and whose handlers state the role they need with `RequireRole<…>`. The use
//! cases are in `app/operators/`. A new section: a handler here taking `RequireRole<…>`, its
//! route added to `router()` inside `operator_session`, its `href` in `page::Section`.

mod account;
mod activations;
mod audit;
mod clients;
mod interactions;
mod jobs;
mod keys;
mod login;
mod operations;
mod operators;
mod outbox;
mod overview;
pub mod page;
mod pool;
pub mod session;
mod settings;

use axum::middleware;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{operator_session, public};
use super::pages::frame;
pub use session::require_session;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    std::thread::spawn(crate::app::operators::password::warm);
    public(
        OpenApiRouter::new()
            .routes(routes!(login::form, login::submit))
            .routes(routes!(
                login::second_factor_form,
                login::second_factor_submit
            ))
            .routes(routes!(page::stylesheet)),
    )
    .merge(operator_session(
        state,
        OpenApiRouter::new()
            .routes(routes!(overview::overview))
            .routes(routes!(login::logout))
            .routes(routes!(login::logout_everywhere))
            .routes(routes!(account::totp_page, account::totp_submit))
            .routes(routes!(audit::audit))
            .routes(routes!(pool::pool))
            .routes(routes!(pool::provision))
            .routes(routes!(operations::sync))
            .routes(routes!(operations::fix_webhooks))
            .routes(routes!(operations::purge_without_sms))
            .routes(routes!(operations::release))
            .routes(routes!(operations::drain))
            .routes(routes!(jobs::job))
            .routes(routes!(activations::activations))
            .routes(routes!(activations::activation_page))
            .routes(routes!(activations::resend))
            .routes(routes!(activations::expire))
            .routes(routes!(interactions::interactions))
            .routes(routes!(clients::list))
            .routes(routes!(clients::show))
            .routes(routes!(clients::change_proxy))
            .routes(routes!(clients::unblock))
            .routes(routes!(clients::give_back))
            // jobs, keys, operators, settings
            .routes(routes!(jobs::jobs))
            .routes(routes!(jobs::requeue))
            .routes(routes!(outbox::failed))
            .routes(routes!(outbox::requeue))
            .routes(routes!(keys::list, keys::create))
            .routes(routes!(keys::revoke))
            .routes(routes!(operators::list, operators::create))
            .routes(routes!(operators::disable))
            .routes(routes!(operators::reset_password))
            .routes(routes!(operators::set_role))
            .routes(routes!(settings::settings)),
    ))
    .route_layer(middleware::map_response(frame::security_headers))
}

//! `GET /admin`: the overview. For now who is signed in and where the sections will be; the
//! pool, traffic, activation and job panels plug in here.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::page::{AdminFrame, Section};
use super::session::{AnyRole, RequireRole};
use crate::http::pages::frame::html;

#[derive(Template)]
#[template(path = "admin/overview.html")]
pub struct OverviewPage {
    pub frame: AdminFrame,
}

/// The dashboard's first page.
#[utoipa::path(get, path = "/admin", tag = "admin",
    responses((status = 200, content_type = "text/html", body = String),
        (status = 303, description = "no live session: to /admin/login")))]
pub async fn overview(RequireRole(operator, ..): RequireRole<AnyRole>) -> Response {
    let w = super::page::words(operator.language);
    let frame = operator
        .frame(&w.overview_title, Some(Section::Overview))
        .switch_to("/admin");
    html(StatusCode::OK, &OverviewPage { frame })
}

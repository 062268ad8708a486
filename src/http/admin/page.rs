//! What every dashboard page shares: its frame (language, title, who is signed in, the
//! navigation, the logout forms), and the one-message pages (refusals, errors).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::Role;
use crate::http::pages::frame::html;
use crate::messages::{AdminWords, Catalogue, Language};
use crate::store::{Channel, Outcome};

pub fn words(language: Language) -> &'static AdminWords {
    &Catalogue::get(language).admin
}

pub fn role_name(words: &AdminWords, role: Role) -> &str {
    match role {
        Role::Viewer => &words.role_viewer,
        Role::Operator => &words.role_operator,
        Role::Admin => &words.role_admin,
    }
}

/// The dashboard's sections, in the navigation's order: the path of those that exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Clients,
    Pool,
    Activations,
    Interactions,
    Jobs,
    Keys,
    Operators,
    Settings,
    Audit,
    Account,
}

impl Section {
    const ALL: [Section; 11] = [
        Section::Overview,
        Section::Clients,
        Section::Pool,
        Section::Activations,
        Section::Interactions,
        Section::Jobs,
        Section::Keys,
        Section::Operators,
        Section::Settings,
        Section::Audit,
        Section::Account,
    ];

    /// Where the section's page is.
    fn href(self) -> &'static str {
        match self {
            Self::Overview => "/admin",
            Self::Clients => "/admin/clients",
            Self::Pool => "/admin/pool",
            Self::Activations => "/admin/activations",
            Self::Interactions => "/admin/interactions",
            Self::Jobs => "/admin/jobs",
            Self::Keys => "/admin/keys",
            Self::Operators => "/admin/operators",
            Self::Settings => "/admin/settings",
            Self::Audit => "/admin/audit",
            Self::Account => "/admin/account/totp",
        }
    }

    /// The least role that sees the section in the navigation.
    fn role(self) -> Role {
        match self {
            Self::Keys | Self::Operators | Self::Settings | Self::Audit => Role::Admin,
            _ => Role::Viewer,
        }
    }

    fn label(self, w: &'static AdminWords) -> &'static str {
        match self {
            Self::Overview => &w.nav_overview,
            Self::Clients => &w.nav_clients,
            Self::Pool => &w.nav_pool,
            Self::Activations => &w.nav_activations,
            Self::Interactions => &w.nav_interactions,
            Self::Jobs => &w.nav_jobs,
            Self::Keys => &w.nav_keys,
            Self::Operators => &w.nav_operators,
            Self::Settings => &w.nav_settings,
            Self::Audit => &w.nav_audit,
            Self::Account => &w.nav_account,
        }
    }
}

pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    pub current: bool,
}

/// The signed-in part of the frame.
pub struct Who {
    pub signed_in: String,
    /// For the logout forms.
    pub csrf_token: String,
    pub nav: Vec<NavItem>,
}

/// What the admin layout needs.
pub struct AdminFrame {
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub words: &'static AdminWords,
    pub title: String,
    pub switch_href: Option<String>,
    pub who: Option<Who>,
}

impl AdminFrame {
    pub fn new(language: Language, title: impl Into<String>) -> Self {
        Self {
            lang: language.as_str(),
            other_lang: language.other().as_str(),
            words: words(language),
            title: title.into(),
            switch_href: None,
            who: None,
        }
    }

    /// Offers `path` (without a query string) in the other language.
    pub fn switch_to(mut self, path: &str) -> Self {
        self.switch_href = Some(format!("{path}?lang={}", self.other_lang));
        self
    }

    /// Adds who is signed in, the navigation (`current` highlighted) and the logout forms.
    pub fn signed_in(
        mut self,
        email: &str,
        role: Role,
        csrf_token: &str,
        current: Option<Section>,
    ) -> Self {
        let w = self.words;
        self.who = Some(Who {
            signed_in: w
                .signed_in_as
                .replace("{email}", email)
                .replace("{role}", role_name(w, role)),
            csrf_token: csrf_token.to_owned(),
            nav: Section::ALL
                .into_iter()
                .filter(|s| role.allows(s.role()))
                .map(|s| NavItem {
                    label: s.label(w),
                    href: s.href(),
                    current: Some(s) == current,
                })
                .collect(),
        });
        self
    }
}

/// A form or query value, trimmed: `None` when absent or blank.
pub fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A list's keyset position (`?after=`, `?before=`): a positive id, or none; `Err` for
/// anything else, which the page refuses naming the parameter.
pub fn keyset_id(raw: &Option<String>) -> Result<Option<i64>, ()> {
    match blank(raw).map(str::parse::<i64>) {
        None => Ok(None),
        Some(Ok(id)) if id > 0 => Ok(Some(id)),
        Some(_) => Err(()),
    }
}

/// A 400 page naming the field of a form whose value is not valid, and why.
pub fn bad_input(
    operator: &super::session::Operator,
    section: Section,
    field: &str,
    reason: &str,
) -> Response {
    bad_value(
        operator,
        section,
        &words(operator.language).bad_input_title,
        field,
        reason,
    )
}

/// A 400 page naming the filter (or page parameter) whose value is not valid, and why.
pub fn bad_filter(
    operator: &super::session::Operator,
    section: Section,
    field: &str,
    reason: &str,
) -> Response {
    bad_value(
        operator,
        section,
        &words(operator.language).bad_filter_title,
        field,
        reason,
    )
}

fn bad_value(
    operator: &super::session::Operator,
    section: Section,
    title: &str,
    field: &str,
    reason: &str,
) -> Response {
    let w = words(operator.language);
    notice(
        StatusCode::BAD_REQUEST,
        AdminFrame {
            title: title.to_owned(),
            ..operator.frame("", Some(section))
        },
        w.bad_filter_text
            .replace("{field}", field)
            .replace("{reason}", reason),
    )
}

/// A time as the dashboard's tables show it.
pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A page that says one thing.
#[derive(Template)]
#[template(path = "admin/notice.html")]
pub struct Notice {
    pub frame: AdminFrame,
    pub text: String,
    pub link: Option<(String, String)>,
}

pub fn notice(status: StatusCode, frame: AdminFrame, text: impl Into<String>) -> Response {
    let link = frame
        .who
        .as_ref()
        .map(|_| ("/admin".to_owned(), frame.words.back_to_overview.clone()));
    html(
        status,
        &Notice {
            frame,
            text: text.into(),
            link,
        },
    )
}

/// Something failed on our side: logged where it happened, the page says nothing more.
pub fn error(language: Language) -> Response {
    let w = words(language);
    notice(
        StatusCode::INTERNAL_SERVER_ERROR,
        AdminFrame::new(language, &w.error_title),
        &w.error_text,
    )
}

/// 303 to `location`.
pub fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/admin")),
        )],
    )
        .into_response()
}

/// The dashboard's stylesheet, embedded in the binary.
#[utoipa::path(get, path = "/static/admin.css", tag = "admin",
    responses((status = 200, content_type = "text/css", body = String, description = "the dashboard's stylesheet")))]
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
        include_str!("../../../static/admin.css"),
    )
}

pub fn channel_name(w: &'static AdminWords, c: Channel) -> &'static str {
    match c {
        Channel::Voice => &w.interaction_voice,
        Channel::Sms => &w.interaction_sms,
    }
}

pub fn outcome_name(w: &'static AdminWords, o: Outcome) -> &'static str {
    match o {
        Outcome::Forwarded => &w.outcome_forwarded,
        Outcome::UnknownProxy => &w.outcome_unknown_proxy,
        Outcome::BlockedCountry => &w.outcome_blocked_country,
        Outcome::NoRecentCaller => &w.outcome_no_recent_caller,
        Outcome::EmptyMessage => &w.outcome_empty_message,
        Outcome::RateLimited => &w.outcome_rate_limited,
        Outcome::BlockedNumberType => &w.outcome_blocked_number_type,
        Outcome::OwnNumber => &w.outcome_own_number,
        Outcome::OtpAccepted => &w.outcome_otp_accepted,
        Outcome::OtpRefused => &w.outcome_otp_refused,
        Outcome::BlockedContact => &w.outcome_blocked_contact,
        Outcome::Command => &w.outcome_command,
        Outcome::BadCommand => &w.outcome_bad_command,
        Outcome::UnmaskBlocked => &w.outcome_unmask_blocked,
        Outcome::OptedOut => &w.outcome_opted_out,
        Outcome::OptedIn => &w.outcome_opted_in,
        Outcome::HelpAnswered => &w.outcome_help_answered,
        Outcome::RecipientOptedOut => &w.outcome_recipient_opted_out,
    }
}

/// A stored outcome in the reader's words; one this binary does not know (written by a newer
/// one) is shown as stored.
pub fn outcome_label(w: &'static AdminWords, raw: &str) -> String {
    Outcome::parse(raw).map_or_else(|| raw.to_owned(), |o| outcome_name(w, o).to_owned())
}

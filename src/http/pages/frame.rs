//! What every page shares: its language, the layout's frame, the answer's headers.

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::messages::{Catalogue, Language, PageWords};

/// Scripts: none. Styles and images: our own files only, never inline. Forms post only to us;
/// no page of ours may be framed, and none sets a `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers of every answer of the pages' routes, redirects and refusals included.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Pages hold personal data and one-time state: never stored. The stylesheet sets its own.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The page's language: `?lang=`, else the browser's `Accept-Language`, else the server's
/// `PROXYCALL_LANGUAGE`.
pub fn language(state: &AppState, lang: Option<&str>, headers: &HeaderMap) -> Language {
    lang.and_then(|l| Language::parse(l).ok())
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(preferred)
        })
        .unwrap_or(state.settings.language)
}

/// The catalogue the browser prefers most (highest `q`, the first on a tie), if it names one.
fn preferred(accept: &str) -> Option<Language> {
    let mut best: Option<(Language, f32)> = None;
    for entry in accept.split(',') {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or("");
        let Ok(language) = Language::parse(primary) else {
            continue;
        };
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((language, q));
        }
    }
    best.map(|(language, _)| language)
}

/// What the layout needs.
pub struct Frame {
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub words: &'static PageWords,
    pub title: String,
    /// The same page in the other language; none where reloading would repeat an action.
    pub switch_href: Option<String>,
}

impl Frame {
    pub fn new(language: Language, title: impl Into<String>) -> Self {
        Self {
            lang: language.as_str(),
            other_lang: language.other().as_str(),
            words: words(language),
            title: title.into(),
            switch_href: None,
        }
    }

    /// Offers `path` (which has a query string, or none) in the other language.
    pub fn switch_to(mut self, path: &str) -> Self {
        let joiner = if path.contains('?') { '&' } else { '?' };
        self.switch_href = Some(format!("{path}{joiner}lang={}", self.other_lang));
        self
    }
}

pub fn words(language: Language) -> &'static PageWords {
    &Catalogue::get(language).page
}

/// A rendered page with its status.
pub fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            ApiError::internal().into_response()
        }
    }
}

/// A page that says one thing: a title (`<title>` and `<h1>`) and a text.
#[derive(Template)]
#[template(path = "notice.html")]
pub struct Notice {
    pub frame: Frame,
    pub text: String,
    /// A link to the form, to start again.
    pub next_href: Option<String>,
}

impl Notice {
    pub fn new(frame: Frame, text: impl Into<String>) -> Self {
        Self {
            frame,
            text: text.into(),
            next_href: None,
        }
    }

    pub fn with_form_link(mut self) -> Self {
        self.next_href = Some(format!("/activate?lang={}", self.frame.lang));
        self
    }
}

/// Minutes to wait, rounded up, for what a person reads.
pub fn minutes(seconds: u64) -> u64 {
    seconds.div_ceil(60).max(1)
}

/// A refusal of the caller's address (over its budget of refused attempts): 429, with
/// `Retry-After`, as a page.
pub fn too_many(language: Language, refusal: ApiError) -> Response {
    let w = words(language);
    let wait = refusal.retry_after_secs.unwrap_or(60);
    let page = Notice::new(
        Frame::new(language, &w.too_many_title),
        w.too_many_text
            .replace("{minutes}", &minutes(wait).to_string()),
    );
    let mut response = html(refusal.status, &page);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_s_most_wanted_catalogue_wins() {
        assert_eq!(preferred("en-GB,en;q=0.9,fr;q=0.8"), Some(Language::En));
        assert_eq!(preferred("de-DE, fr;q=0.5, en;q=0.4"), Some(Language::Fr));
        assert_eq!(preferred("fr-CH, fr;q=0.9, en;q=0.8"), Some(Language::Fr));
        assert_eq!(preferred("en;q=0.2, fr;q=0.7"), Some(Language::Fr));
        assert_eq!(preferred("en;q=0, de"), None);
        assert_eq!(preferred("de, *;q=0.5"), None);
        assert_eq!(preferred(""), None);
    }

    #[test]
    fn waits_are_read_in_whole_minutes() {
        assert_eq!(minutes(0), 1);
        assert_eq!(minutes(60), 1);
        assert_eq!(minutes(61), 2);
        assert_eq!(minutes(180), 3);
    }
}

//! The self-service pages over plain HTTP: their headers, language, CSRF token, refusals and
//! answers. `browser.rs` walks them in Chromium as a person would.

use proxycall::domain::NumberType;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// A browser's view of the pages: its cookies, kept by hand, and no redirect followed.
struct Visitor<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl<'a> Visitor<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, response: reqwest::Response) -> Page {
        for set in response.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            self.cookies.push((name.to_owned(), value.to_owned()));
        }
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let response = self
            .http
            .get(format!("{}{path}", self.app.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .http
            .post(format!("{}{path}", self.app.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// Opens the form and sends it with its token, as a browser would.
    async fn submit(&mut self, fields: &[(&str, &str)]) -> Page {
        let form = self.get("/activate").await;
        let token = hidden_token(&form.body);
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post("/activate", &all).await
    }
}

fn hidden_token(body: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = body.find(marker).expect("the form has its token") + marker.len();
    body[start..start + 64].to_owned()
}

fn assert_secure(page: &Page, what: &str) {
    assert_eq!(page.headers["content-security-policy"], CSP, "{what}");
    assert_eq!(page.headers["x-frame-options"], "DENY", "{what}");
    assert_eq!(page.headers["referrer-policy"], "no-referrer", "{what}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(page.headers["cache-control"], "no-store", "{what}");
    assert!(!page.body.contains("<script") && !page.body.contains("style="));
}

const JEANNE: [(&str, &str); 4] = [
    ("client_name", "Jeanne Martin"),
    ("client_mail", "jeanne@example.fr"),
    ("client_real_phone", "+33612345678"),
    ("country_iso", "FR"),
];

#[tokio::test]
async fn every_page_answers_html_with_the_strict_headers() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    for (path, status, title) in [
        ("/activate", 200, "Activer votre numéro ProxyCall"),
        ("/activate/status", 404, "Demande introuvable"),
        ("/confirmations/verify", 400, "Lien invalide"),
        ("/confirmations/verify?token=", 400, "Lien invalide"),
        (
            "/confirmations/verify?token=abcdefabcdef",
            404,
            "Confirmation introuvable",
        ),
    ] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, status, "{path}: {}", page.body);
        assert_secure(&page, path);
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(
            page.body.contains(&format!("<title>{title}</title>"))
                && page.body.contains(&format!("<h1>{title}</h1>")),
            "{path}: {}",
            page.body
        );
    }
    let css = visitor.get("/static/pages.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers["x-content-type-options"], "nosniff");
    assert!(css.body.contains("main {"));
}

#[tokio::test]
async fn the_language_is_the_query_s_then_the_browser_s_then_the_server_s() {
    let app = spawn_app().await;
    let lang_of = |accept: Option<&'static str>, path: &'static str| {
        let app = &app;
        async move {
            let mut request = app.http.get(format!("{}{path}", app.base));
            if let Some(accept) = accept {
                request = request.header("accept-language", accept);
            }
            let body = request.send().await.unwrap().text().await.unwrap();
            let start = body.find("<html lang=\"").unwrap() + 12;
            body[start..start + 2].to_owned()
        }
    };
    assert_eq!(lang_of(None, "/activate").await, "fr");
    assert_eq!(lang_of(Some("en-GB,en;q=0.9"), "/activate").await, "en");
    assert_eq!(
        lang_of(Some("de, fr;q=0.3, en;q=0.2"), "/activate").await,
        "fr"
    );
    assert_eq!(lang_of(Some("en-GB"), "/activate?lang=fr").await, "fr");
    assert_eq!(lang_of(None, "/activate?lang=en").await, "en");
    assert_eq!(lang_of(None, "/activate?lang=xx").await, "fr");

    let english = spawn_app_with(Options {
        language: Some("en".into()),
        ..Options::default()
    })
    .await;
    let body = english
        .http
        .get(format!("{}/activate", english.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("<html lang=\"en\">"), "{body}");
}

#[tokio::test]
async fn a_form_without_its_token_is_refused_and_an_address_that_keeps_trying_gets_429() {
    let app = spawn_app_with(Options {
        rate_limit_per_minute: Some(3),
        ..Options::default()
    })
    .await;
    app.add_numbers("FR", NumberType::Mobile, 1).await;
    let mut visitor = Visitor::new(&app);

    // Another site's form: no cookie, no token. The values come back, nothing starts.
    let mut forged = JEANNE.to_vec();
    forged.push(("csrf_token", "0123"));
    let page = visitor.post("/activate", &forged).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert_secure(&page, "403");
    assert!(
        page.body
            .contains("Ce formulaire a expiré ou n&#39;a pas été envoyé depuis cette page."),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"jeanne@example.fr\""));
    let set_cookie = page.headers["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.starts_with("pc_csrf=")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Strict")
            && !set_cookie.contains("Secure"),
        "{set_cookie}"
    );

    // The cookie now, but a token that is not its own.
    let page = visitor.post("/activate", &forged).await;
    assert_eq!(page.status, 403);

    // No token at all: the third refusal spends the address's budget; the fourth is 429.
    let page = visitor.post("/activate", &JEANNE).await;
    assert_eq!(page.status, 403);
    let page = visitor.post("/activate", &forged).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert_secure(&page, "429");
    assert!(page.headers.contains_key("retry-after"));
    assert!(
        page.body.contains("<h1>Trop de tentatives</h1>"),
        "{}",
        page.body
    );

    assert!(
        app.app
            .store
            .simulated_deliveries(None, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing was sent"
    );
}

#[tokio::test]
async fn invalid_fields_are_shown_next_to_each_field_with_the_values_kept() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    let page = visitor
        .submit(&[
            ("client_name", ""),
            ("client_mail", "jeanne@example.fr"),
            ("client_real_phone", "06 12 34 56 78"),
            ("country_iso", "ZZ"),
        ])
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert_secure(&page, "422");
    for (id, text) in [
        ("client_name", "Indiquez votre nom."),
        (
            "client_real_phone",
            "Indiquez le numéro au format international",
        ),
        ("country_iso", "Choisissez un pays dans la liste."),
    ] {
        assert!(
            page.body
                .contains(&format!("<span class=\"error\" id=\"{id}-error\">{text}")),
            "{id}: {}",
            page.body
        );
        assert!(
            page.body.contains(&format!("<a href=\"#{id}\">{text}")),
            "{id}"
        );
    }
    assert!(!page.body.contains("id=\"client_mail-error\""));
    assert!(page.body.contains("value=\"jeanne@example.fr\""));
    assert!(page.body.contains("value=\"06 12 34 56 78\""));
    assert!(
        page.body
            .contains("<title>Erreur – Activer votre numéro ProxyCall</title>")
    );
}

#[tokio::test]
async fn the_status_page_shows_the_activation_to_the_browser_that_started_it_and_the_limits_are_shown_with_429()
 {
    let app = spawn_app().await;
    app.add_numbers("FR", NumberType::Mobile, 1).await;
    let mut jeanne = Visitor::new(&app);

    // Started: to the status page, with a cookie naming the activation.
    let started = jeanne.submit(&JEANNE).await;
    assert_eq!(started.status, 303, "{}", started.body);
    assert_secure(&started, "303");
    let location = started.headers["location"].to_str().unwrap().to_owned();
    let pending_id = location
        .strip_prefix("/activate/status?pending_id=")
        .and_then(|rest| rest.strip_suffix("&lang=fr"))
        .unwrap_or_else(|| panic!("{location}"))
        .to_owned();
    let set_cookie = started.headers["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.starts_with(&format!("pc_activation={pending_id};"))
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let proxy = app
        .get(&format!("/confirmations/status?pending_id={pending_id}"))
        .await
        .body["proxy_number"]
        .as_str()
        .unwrap()
        .to_owned();

    let page = jeanne.get(&location).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_secure(&page, "status");
    assert!(
        page.body.contains("data-status=\"PENDING\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("http-equiv=\"refresh\""));
    assert!(
        page.body.contains("Mettre à jour maintenant"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("SMS envoyé : nous attendons votre code.")
    );
    // The number is not shown before the phone is proved to be Jeanne's.
    assert!(!page.body.contains(&proxy[1..]), "{}", page.body);

    // Another browser: neither the page, nor the activation through the form.
    let mut stranger = Visitor::new(&app);
    let page = stranger.get(&location).await;
    assert_eq!(page.status, 404, "{}", page.body);
    assert!(page.body.contains("<h1>Demande introuvable</h1>"));
    let page = stranger
        .submit(&[
            ("client_name", "Someone Else"),
            ("client_mail", "else@example.fr"),
            ("client_real_phone", "+33612345678"),
            ("country_iso", "FR"),
        ])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("<h1>Demande déjà en cours</h1>"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(&pending_id) && !page.body.contains(&proxy[1..]));
    assert!(!stranger.cookies.iter().any(|(k, _)| k == "pc_activation"));
    // Jeanne sending the form again is sent back to her page.
    let again = jeanne.submit(&JEANNE).await;
    assert_eq!(again.status, 303);
    assert_eq!(again.headers["location"], location.as_str());

    // She answers the code by SMS: the page says the number is hers, and stops reloading.
    let code_sms = app.deliveries_to("+33612345678", 1).await;
    let code: String = code_sms
        .iter()
        .filter_map(|d| d.body.as_deref())
        .find(|b| b.contains("Code de confirmation"))
        .expect("the code's text")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let (status, _) = app
        .webhook(
            "/twilio/sms",
            &[
                ("From", "+33612345678"),
                ("To", &proxy),
                ("Body", &code),
                ("MessageSid", "SM00000000000000000000000000000001"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let page = jeanne.get(&location).await;
    assert!(
        page.body.contains("data-status=\"PROMOTED\""),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(&format!("votre numéro ProxyCall {proxy} est actif"))
    );
    assert!(!page.body.contains("http-equiv=\"refresh\""));

    // A new request for the same phone right away: the cool-down, as a page with 429.
    let page = jeanne.submit(&JEANNE).await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert_secure(&page, "429");
    assert!(
        page.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert!(page.body.contains("Réessayez dans 3 min."), "{}", page.body);
    assert!(page.body.contains("value=\"jeanne@example.fr\""));
}

#[tokio::test]
async fn an_empty_pool_is_said_next_to_the_country() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.submit(&JEANNE).await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(
        page.body.contains(
            "<span class=\"error\" id=\"country_iso-error\">Aucun numéro n&#39;est disponible"
        ),
        "{}",
        page.body
    );
}

/// Starts an activation for `phone` through the form, asks for its link and returns it with
/// the activation's proxy.
async fn link_for(app: &TestApp, phone: &str, mail: &str) -> (String, String) {
    let mut visitor = Visitor::new(app);
    let started = visitor
        .submit(&[
            ("client_name", "Jeanne Martin"),
            ("client_mail", mail),
            ("client_real_phone", phone),
            ("country_iso", "FR"),
        ])
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let location = started.headers["location"].to_str().unwrap();
    let pending_id = location
        .split("pending_id=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let resent = app
        .post(
            "/confirmations/resend",
            &serde_json::json!({"pending_id": pending_id, "channel": "email"}),
        )
        .await;
    assert_eq!(resent.status, 200, "{}", resent.text);
    let link = app
        .deliveries_to(phone, 2)
        .await
        .iter()
        .filter_map(|d| d.body.as_deref())
        .find_map(|b| b.split_whitespace().find(|w| w.contains("token=")))
        .expect("the link's text")
        .to_owned();
    let proxy = app
        .get(&format!("/confirmations/status?pending_id={pending_id}"))
        .await
        .body["proxy_number"]
        .as_str()
        .unwrap()
        .to_owned();
    (link.replace(&app.base, ""), proxy)
}

#[tokio::test]
async fn the_link_of_an_expired_or_locked_activation_says_so() {
    let app = spawn_app_with(Options {
        settings: Some(Box::new(|raw| raw.otp_min_interval_secs = Some("0".into()))),
        ..Options::default()
    })
    .await;
    app.add_numbers("FR", NumberType::Mobile, 2).await;
    let mut visitor = Visitor::new(&app);

    let (expiring, _) = link_for(&app, "+33612345678", "a@example.fr").await;
    let expired = app
        .post("/confirmations/expire", &serde_json::json!(0))
        .await;
    assert_eq!(expired.status, 200, "{}", expired.text);
    let page = visitor.get(&expiring).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("<h1>Lien expiré</h1>"), "{}", page.body);

    let (locking, proxy) = link_for(&app, "+33612345679", "b@example.fr").await;
    for i in 0..5 {
        let sid = format!("SM{i:032}");
        let (status, _) = app
            .webhook(
                "/twilio/sms",
                &[
                    ("From", "+33612345679"),
                    ("To", &proxy),
                    ("Body", "000000"),
                    ("MessageSid", &sid),
                ],
            )
            .await;
        assert_eq!(status, 200);
    }
    let page = visitor.get(&locking).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("<h1>Demande bloquée</h1>"),
        "{}",
        page.body
    );
    // In English too, on the page's own terms.
    let page = visitor.get(&format!("{locking}&lang=en")).await;
    assert!(
        page.body.contains("<title>Request locked</title>"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_failure_behind_the_link_says_erreur_with_500() {
    let app = spawn_app().await;
    // Renamed rather than dropped: other tables' keys point at it.
    app.db
        .exec("alter table activations rename to activations_gone")
        .await;
    let page = Visitor::new(&app)
        .get("/confirmations/verify?token=abcdefabcdef")
        .await;
    assert_eq!(page.status, 500, "{}", page.body);
    assert_secure(&page, "500");
    assert!(page.body.contains("<title>Erreur</title>") && page.body.contains("<h1>Erreur</h1>"));
    assert!(
        page.body
            .contains("Une erreur est survenue lors de la confirmation.")
    );
}

#[tokio::test]
async fn one_address_starts_a_bounded_number_of_activations_an_hour() {
    let app = spawn_app_with(Options {
        settings: Some(Box::new(|raw| {
            raw.activate_per_address_hour = Some("2".into());
        })),
        ..Default::default()
    })
    .await;
    app.add_numbers("FR", NumberType::Mobile, 3).await;
    for (i, expected) in [(1, 303), (2, 303), (3, 429)] {
        let mail = format!("person{i}@example.fr");
        let phone = format!("+3361234560{i}");
        let mut visitor = Visitor::new(&app);
        let page = visitor
            .submit(&[
                ("client_name", "Jeanne Martin"),
                ("client_mail", &mail),
                ("client_real_phone", &phone),
                ("country_iso", "FR"),
            ])
            .await;
        assert_eq!(page.status.as_u16(), expected, "start {i}: {}", page.body);
        if expected == 429 {
            assert!(page.headers.get("retry-after").is_some());
        }
    }
    // Nothing was reserved nor sent for the one refused.
    let available = app.get("/pool/available?country_iso=FR").await;
    assert_eq!(available.body["available"].as_array().unwrap().len(), 1);
}

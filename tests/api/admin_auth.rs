//! The dashboard's front door, over HTTP as a browser goes through it (cookies kept, redirects
//! not followed, so that each step is seen): login, refusals and their limits, CSRF, session
//! expiry and logout, disabled operators, the TOTP second factor and its recovery codes, the
//! enrolment the settings may require, roles; and the `operators` command as the real binary.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use proxycall::app::operators::{Actor, accounts, totp};
use proxycall::config::RawSettings;
use proxycall::domain::{Email, Role};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};

pub(crate) const PASSWORD: &str = "correct horse battery staple";
const BIN: &str = env!("CARGO_BIN_EXE_proxycall");

/// A browser: keeps the cookies it is given, sends them back, follows no redirect.
pub(crate) struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: Mutex<HashMap<String, String>>,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The first form's CSRF token.
    pub(crate) fn csrf(&self) -> String {
        between(&self.body, "name=\"csrf_token\" value=\"", "\"")
            .unwrap_or_else(|| panic!("no CSRF token in {}", self.body))
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

pub(crate) fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(text[from..to].to_owned())
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Self {
        Self::at(&app.base)
    }

    fn at(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Mutex::new(HashMap::new()),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Page {
        let response = req
            .header("cookie", self.cookie_header())
            .header("accept-language", "en")
            .send()
            .await
            .unwrap();
        let page = Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        };
        for cookie in page.set_cookies() {
            let pair = cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let mut jar = self.cookies.lock().unwrap();
            if value.is_empty() || cookie.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
        page
    }

    pub(crate) async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.send(self.http.post(format!("{}{path}", self.base)).form(fields))
            .await
    }

    pub(crate) async fn login(&self, email: &str, password: &str) -> Page {
        let form = self.get("/admin/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        self.post(
            "/admin/login",
            &[
                ("csrf_token", &form.csrf()),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    fn has_session(&self) -> bool {
        self.cookies.lock().unwrap().contains_key("pc_admin")
    }
}

pub(crate) async fn operator(app: &TestApp, email: &str, role: Role) -> Email {
    let email = Email::parse(email).unwrap();
    accounts::create(&app.app, &Actor::command_line(), &email, role, PASSWORD)
        .await
        .unwrap();
    email
}

fn with(change: impl FnOnce(&mut RawSettings) + Send + 'static) -> Options {
    Options {
        settings: Some(Box::new(change)),
        ..Options::default()
    }
}

/// What the audit log holds, newest first: (action, target).
async fn audit(app: &TestApp) -> Vec<(String, String)> {
    app.app
        .store
        .audit_page(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.target.unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn an_operator_logs_in_and_gets_a_strict_cookie_and_headers() {
    let app = spawn_app().await;
    operator(&app, "ada@example.com", Role::Admin).await;
    let browser = Browser::new(&app);

    let before = browser.get("/admin").await;
    assert_eq!(before.status, 303);
    assert_eq!(before.location(), "/admin/login");

    let login = browser.login(" Ada@Example.com ", PASSWORD).await;
    assert_eq!(login.status, 303, "{}", login.body);
    assert_eq!(login.location(), "/admin");
    let cookie = login
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("pc_admin="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");

    let page = browser.get("/admin").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("ada@example.com (admin)"),
        "{}",
        page.body
    );
    let h = &page.headers;
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    assert!(!page.body.contains("<script") && !page.body.contains("style="));

    let stylesheet = browser.get("/static/admin.css").await;
    assert_eq!(stylesheet.status, 200);
    assert!(
        stylesheet.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(
        audit(&app)
            .await
            .contains(&("login".into(), "ada@example.com".into()))
    );
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_public_url_is_https() {
    let app = spawn_app_with(Options {
        public_base_url: Some("https://proxycall.example.com".into()),
        ..Options::default()
    })
    .await;
    operator(&app, "ada@example.com", Role::Admin).await;
    let browser = Browser::new(&app);
    let form = browser.get("/admin/login").await;
    let login = browser
        .post(
            "/admin/login",
            &[
                ("csrf_token", &form.csrf()),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(login.status, 303, "{}", login.body);
    let cookie = login
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Secure-pc_admin="))
        .expect("a secure session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_e_mail_get_the_same_answer() {
    let app = spawn_app().await;
    operator(&app, "ada@example.com", Role::Admin).await;
    let browser = Browser::new(&app);

    let wrong = browser.login("ada@example.com", "not the password").await;
    let unknown = browser.login("nobody@example.com", PASSWORD).await;
    let malformed = browser.login("not an e-mail", PASSWORD).await;
    for page in [&wrong, &unknown, &malformed] {
        assert_eq!(page.status, 422, "{}", page.body);
        assert_eq!(
            between(&page.body, "id=\"login-error\">", "<").as_deref(),
            Some("Wrong e-mail address or password.")
        );
        assert!(!browser.has_session());
    }
    assert_eq!(browser.get("/admin").await.status, 303);
    let log = audit(&app).await;
    assert_eq!(
        log.iter().filter(|(a, _)| a == "login.failed").count(),
        3,
        "{log:?}"
    );
    // The audit log masks an e-mail nobody has; it never holds a password.
    assert!(
        log.contains(&("login.failed".into(), "n***@example.com".into())),
        "{log:?}"
    );
    let details: Vec<String> = app
        .app
        .store
        .audit_page(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.details)
        .collect();
    assert!(
        !details
            .iter()
            .any(|d| d.contains(PASSWORD) || d.contains("not the password"))
    );
}

#[tokio::test]
async fn failed_logins_lock_the_account_then_the_address() {
    let app = spawn_app_with(with(|raw| {
        raw.admin.admin_login_failures_per_account = Some("3".into());
        raw.admin.admin_login_failures_per_address = Some("5".into());
    }))
    .await;
    operator(&app, "ada@example.com", Role::Admin).await;
    operator(&app, "bob@example.com", Role::Viewer).await;
    let browser = Browser::new(&app);

    for _ in 0..3 {
        assert_eq!(browser.login("ada@example.com", "guess").await.status, 422);
    }
    // Even the right password is refused now, with a clear message.
    let locked = browser.login("ada@example.com", PASSWORD).await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(
        locked
            .body
            .contains("Too many failed attempts. Try again in 15 minutes.")
    );
    assert_eq!(locked.headers["retry-after"], "900");
    assert!(!browser.has_session());
    // Another account from the same address still may, until the address's budget is spent.
    assert_eq!(browser.login("bob@example.com", PASSWORD).await.status, 303);
    for _ in 0..2 {
        assert_eq!(
            browser.login("carol@example.com", "guess").await.status,
            422
        );
    }
    let other = Browser::new(&app);
    assert_eq!(other.login("bob@example.com", PASSWORD).await.status, 429);
}

#[tokio::test]
async fn a_missing_or_forged_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    operator(&app, "ada@example.com", Role::Admin).await;
    let browser = Browser::new(&app);

    // The login form without its token, or with another one: no session.
    browser.get("/admin/login").await;
    let missing = browser
        .post(
            "/admin/login",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(missing.status, 403, "{}", missing.body);
    assert!(
        missing.body.contains("Nothing was changed"),
        "{}",
        missing.body
    );
    let forged = browser
        .post(
            "/admin/login",
            &[
                ("csrf_token", &"0".repeat(64)),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(!browser.has_session());

    // Signed in: a form without the session's token does nothing.
    assert_eq!(browser.login("ada@example.com", PASSWORD).await.status, 303);
    let page = browser.get("/admin").await;
    let token = page.csrf();
    for fields in [
        vec![],
        vec![("csrf_token", "0".repeat(64))],
        vec![("csrf_token", token[..63].to_owned())],
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = browser.post("/admin/logout-everywhere", &fields).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        let mut enrol = fields.clone();
        enrol.extend([("action", "enable"), ("code", "123456")]);
        assert_eq!(
            browser.post("/admin/account/totp", &enrol).await.status,
            403
        );
    }
    assert_eq!(browser.get("/admin").await.status, 200, "still signed in");
    let ada = app
        .app
        .store
        .operator_by_email(&Email::parse("ada@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!ada.totp_enabled);
    // With the token, the same form works.
    let out = browser
        .post("/admin/logout-everywhere", &[("csrf_token", &token)])
        .await;
    assert_eq!(out.status, 303);
    assert_eq!(browser.get("/admin").await.status, 303);
}

#[tokio::test]
async fn a_session_ends_when_idle_and_when_too_old() {
    let app = spawn_app_with(with(|raw| {
        raw.admin.admin_session_idle_secs = Some("2".into());
        raw.admin.admin_session_max_secs = Some("5".into());
    }))
    .await;
    operator(&app, "ada@example.com", Role::Admin).await;

    let idle = Browser::new(&app);
    assert_eq!(idle.login("ada@example.com", PASSWORD).await.status, 303);
    let busy = Browser::new(&app);
    assert_eq!(busy.login("ada@example.com", PASSWORD).await.status, 303);
    assert_eq!(idle.get("/admin").await.status, 200);

    // The busy one is seen every second: it outlives the idle time-out…
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(busy.get("/admin").await.status, 200);
    }
    let expired = idle.get("/admin").await;
    assert_eq!(expired.status, 303);
    assert_eq!(expired.location(), "/admin/login?expired=1");
    assert!(!idle.has_session(), "the browser is told to forget it");
    let login = idle.get("/admin/login?expired=1").await;
    assert!(
        login.body.contains("Your session expired"),
        "{}",
        login.body
    );

    // …but not the absolute lifetime.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(busy.get("/admin").await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        busy.get("/admin").await.location(),
        "/admin/login?expired=1"
    );
}

#[tokio::test]
async fn logout_ends_one_session_and_logout_everywhere_ends_them_all() {
    let app = spawn_app().await;
    operator(&app, "ada@example.com", Role::Admin).await;
    let (first, second, third) = (Browser::new(&app), Browser::new(&app), Browser::new(&app));
    for b in [&first, &second, &third] {
        assert_eq!(b.login("ada@example.com", PASSWORD).await.status, 303);
    }
    let token = first.get("/admin").await.csrf();
    let out = first.post("/admin/logout", &[("csrf_token", &token)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), "/admin/login");
    assert!(!first.has_session());
    assert_eq!(first.get("/admin").await.status, 303);
    assert_eq!(second.get("/admin").await.status, 200);

    let token = second.get("/admin").await.csrf();
    assert_eq!(
        second
            .post("/admin/logout-everywhere", &[("csrf_token", &token)])
            .await
            .status,
        303
    );
    assert_eq!(second.get("/admin").await.status, 303);
    assert_eq!(third.get("/admin").await.status, 303);
    let log = audit(&app).await;
    assert!(log.contains(&("logout".into(), "ada@example.com".into())));
    assert!(log.contains(&("logout.everywhere".into(), "ada@example.com".into())));
}

#[tokio::test]
async fn a_disabled_operator_loses_its_sessions_and_cannot_log_in() {
    let app = spawn_app().await;
    let email = operator(&app, "ada@example.com", Role::Operator).await;
    let browser = Browser::new(&app);
    assert_eq!(browser.login("ada@example.com", PASSWORD).await.status, 303);
    assert_eq!(browser.get("/admin").await.status, 200);

    assert!(
        accounts::disable(&app.app, &Actor::command_line(), &email)
            .await
            .unwrap()
    );
    assert_eq!(browser.get("/admin").await.status, 303);
    let again = Browser::new(&app);
    let refused = again.login("ada@example.com", PASSWORD).await;
    assert_eq!(refused.status, 422, "the answer of a wrong password");
    assert!(refused.body.contains("Wrong e-mail address or password."));
}

/// Enrols the signed-in browser's operator; the key and the recovery codes.
async fn enrol(browser: &Browser) -> (String, Vec<String>) {
    let page = browser.get("/admin/account/totp").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<svg"), "a QR code drawn on the server");
    let secret = between(&page.body, "id=\"totp-secret\">", "<").unwrap();
    let wrong = browser
        .post(
            "/admin/account/totp",
            &[
                ("csrf_token", &page.csrf()),
                ("action", "enable"),
                ("code", "000000"),
            ],
        )
        .await;
    // One chance in a million that 000000 is right: then the test says so.
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    let code = totp::code_at(&secret, chrono::Utc::now()).unwrap();
    let done = browser
        .post(
            "/admin/account/totp",
            &[
                ("csrf_token", &page.csrf()),
                ("action", "enable"),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let list = between(&done.body, "<ul id=\"recovery-codes\">", "</ul>").unwrap();
    let codes: Vec<String> = list
        .split("<code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{list}");
    // Shown once: the page does not show them again.
    let after = browser.get("/admin/account/totp").await;
    assert!(!after.body.contains(&codes[0]));
    assert!(after.body.contains("data-state=\"on\""));
    (secret, codes)
}

async fn logout(browser: &Browser) {
    let token = browser.get("/admin").await.csrf();
    assert_eq!(
        browser
            .post("/admin/logout", &[("csrf_token", &token)])
            .await
            .status,
        303
    );
}

#[tokio::test]
async fn with_totp_a_login_needs_the_code_or_a_recovery_code_once() {
    let app = spawn_app().await;
    operator(&app, "ada@example.com", Role::Admin).await;
    let browser = Browser::new(&app);
    assert_eq!(browser.login("ada@example.com", PASSWORD).await.status, 303);
    let (secret, codes) = enrol(&browser).await;
    logout(&browser).await;
    // The database holds the secret sealed, not as the app shows it.
    let stored = app
        .app
        .store
        .operator_by_email(&Email::parse("ada@example.com").unwrap())
        .await
        .unwrap()
        .unwrap()
        .totp_secret
        .unwrap();
    assert!(
        stored.starts_with("x1:") && !stored.contains(&secret),
        "{stored}"
    );

    let login = browser.login("ada@example.com", PASSWORD).await;
    assert_eq!(login.status, 303);
    assert_eq!(login.location(), "/admin/login/totp");
    // The password alone opens nothing.
    assert_eq!(browser.get("/admin").await.location(), "/admin/login/totp");
    assert_eq!(
        browser.get("/admin/audit").await.location(),
        "/admin/login/totp"
    );

    let form = browser.get("/admin/login/totp").await;
    assert_eq!(form.status, 200);
    // The next step's code: the enrolment used this step's, and each is accepted once.
    let code = totp::code_at(&secret, chrono::Utc::now() + chrono::Duration::seconds(30)).unwrap();
    let wrong_code = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let wrong = browser
        .post(
            "/admin/login/totp",
            &[("csrf_token", &form.csrf()), ("code", &wrong_code)],
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(wrong.body.contains("This code is not valid"));
    assert_eq!(browser.get("/admin").await.location(), "/admin/login/totp");
    let forged = browser
        .post(
            "/admin/login/totp",
            &[("csrf_token", &"0".repeat(64)), ("code", &code)],
        )
        .await;
    assert_eq!(forged.status, 403);
    let right = browser
        .post(
            "/admin/login/totp",
            &[("csrf_token", &form.csrf()), ("code", &code)],
        )
        .await;
    assert_eq!(right.status, 303, "{}", right.body);
    assert_eq!(right.location(), "/admin");
    assert_eq!(browser.get("/admin").await.status, 200);
    logout(&browser).await;

    // The same code again is a replay.
    browser.login("ada@example.com", PASSWORD).await;
    let form = browser.get("/admin/login/totp").await;
    let replay = browser
        .post(
            "/admin/login/totp",
            &[("csrf_token", &form.csrf()), ("code", &code)],
        )
        .await;
    assert_eq!(replay.status, 422);

    // A recovery code works, as typed (upper case, without its dash)…
    let typed = codes[3].replace('-', "").to_uppercase();
    let recovered = browser
        .post(
            "/admin/login/totp",
            &[("csrf_token", &form.csrf()), ("code", &typed)],
        )
        .await;
    assert_eq!(recovered.status, 303, "{}", recovered.body);
    assert_eq!(browser.get("/admin").await.status, 200);
    let page = browser.get("/admin/account/totp").await;
    assert!(
        page.body.contains("Recovery codes left: 9."),
        "{}",
        page.body
    );
    logout(&browser).await;

    // …once.
    browser.login("ada@example.com", PASSWORD).await;
    let form = browser.get("/admin/login/totp").await;
    let used = browser
        .post(
            "/admin/login/totp",
            &[("csrf_token", &form.csrf()), ("code", &codes[3])],
        )
        .await;
    assert_eq!(used.status, 422);
    let log = audit(&app).await;
    assert!(log.contains(&("totp.enrol".into(), "ada@example.com".into())));
    assert!(log.contains(&(
        "login.second_factor_failed".into(),
        "ada@example.com".into()
    )));
}

#[tokio::test]
async fn totp_can_be_turned_off_with_a_code_only() {
    let app = spawn_app().await;
    operator(&app, "ada@example.com", Role::Operator).await;
    let browser = Browser::new(&app);
    browser.login("ada@example.com", PASSWORD).await;
    let (_, codes) = enrol(&browser).await;
    let page = browser.get("/admin/account/totp").await;
    let wrong = browser
        .post(
            "/admin/account/totp",
            &[
                ("csrf_token", &page.csrf()),
                ("action", "disable"),
                ("code", "aaaaa-aaaaa"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    let off = browser
        .post(
            "/admin/account/totp",
            &[
                ("csrf_token", &page.csrf()),
                ("action", "disable"),
                ("code", &codes[0]),
            ],
        )
        .await;
    assert_eq!(off.status, 303);
    assert!(
        browser
            .get("/admin/account/totp")
            .await
            .body
            .contains("data-state=\"off\"")
    );
    logout(&browser).await;
    assert_eq!(
        browser.login("ada@example.com", PASSWORD).await.location(),
        "/admin"
    );
    assert!(
        audit(&app)
            .await
            .contains(&("totp.disable".into(), "ada@example.com".into()))
    );
}

#[tokio::test]
async fn when_totp_is_required_an_operator_without_it_must_enrol_first() {
    let app = spawn_app_with(with(|raw| {
        raw.admin.admin_require_totp = Some("true".into());
    }))
    .await;
    operator(&app, "ada@example.com", Role::Viewer).await;
    let browser = Browser::new(&app);
    assert_eq!(browser.login("ada@example.com", PASSWORD).await.status, 303);
    for path in ["/admin", "/admin/audit"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.location(), "/admin/account/totp", "{path}");
    }
    let page = browser.get("/admin/account/totp").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"totp-required\""), "{}", page.body);
    enrol(&browser).await;
    assert_eq!(browser.get("/admin").await.status, 200);
}

#[tokio::test]
async fn a_viewer_is_refused_the_audit_log_which_an_admin_reads_page_by_page() {
    let app = spawn_app().await;
    operator(&app, "vera@example.com", Role::Viewer).await;
    operator(&app, "ada@example.com", Role::Admin).await;

    let viewer = Browser::new(&app);
    viewer.login("vera@example.com", PASSWORD).await;
    let refused = viewer.get("/admin/audit").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("Your role (viewer) does not allow this page: it needs the admin role."),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("operator.create"));
    assert!(
        !viewer.get("/admin").await.body.contains("/admin/audit"),
        "not in its navigation"
    );

    // 60 more entries: two pages.
    for i in 0..60 {
        proxycall::app::operators::audit::record(
            &app.app,
            &Actor::command_line(),
            "test.entry",
            Some(&format!("entry-{i}")),
            serde_json::json!({}),
        )
        .await
        .unwrap();
    }
    let admin = Browser::new(&app);
    admin.login("ada@example.com", PASSWORD).await;
    let first = admin.get("/admin/audit").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body.matches("<tr><td>").count(), 50);
    assert!(first.body.contains(">login<"), "the newest first");
    let before = between(&first.body, "href=\"/admin/audit?before=", "\"").unwrap();
    let second = admin.get(&format!("/admin/audit?before={before}")).await;
    assert_eq!(
        second.body.matches("<tr><td>").count(),
        64 - 50,
        "{}",
        second.body
    );
    assert!(second.body.contains("entry-0<") && !second.body.contains("entry-59<"));
    assert!(!second.body.contains("rel=\"next\""));
    for bad in ["abc", "-1", "0", "1%20or%201=1"] {
        let page = admin.get(&format!("/admin/audit?before={bad}")).await;
        assert_eq!(page.status, 400, "{bad}");
        assert!(page.body.contains("This page number is not valid."));
    }
}

/// Runs the binary on the test server's database, `stdin` as its standard input.
fn command(app: &TestApp, args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PROXYCALL_DATABASE_URL", app.db.url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_operators_command_creates_lists_disables_and_resets() {
    let app = spawn_app().await;
    let create = [
        "operators",
        "create",
        "--email",
        "Ada@Example.com",
        "--role",
        "admin",
    ];

    let (code, _, err) = command(
        &app,
        &[&create[..], &["--password-stdin"]].concat(),
        "short\n",
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("password: must be at least 12 characters long (it has 5)"),
        "{err}"
    );
    let (code, _, err) = command(
        &app,
        &[
            "operators",
            "create",
            "--email",
            "ada@",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "long enough password\n",
    );
    assert_eq!(code, 2);
    assert!(err.contains("--email:"), "{err}");
    let (code, _, err) = command(
        &app,
        &[
            "operators",
            "create",
            "--email",
            "ada@example.com",
            "--role",
            "root",
            "--password-stdin",
        ],
        "long enough password\n",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("--role: 'root' is not a role (viewer, operator or admin)"),
        "{err}"
    );
    // Without a terminal and without --password-stdin: told what to do.
    let (code, _, err) = command(&app, &create, "long enough password\n");
    assert_eq!(code, 2);
    assert!(err.contains("--password-stdin"), "{err}");

    let (code, out, err) = command(
        &app,
        &[&create[..], &["--password-stdin"]].concat(),
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ada@example.com (admin)"), "{out}");
    let (code, _, err) = command(
        &app,
        &[&create[..], &["--password-stdin"]].concat(),
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("email: an operator with this e-mail exists already"),
        "{err}"
    );

    let (_, out, _) = command(&app, &["operators", "list", "--json"], "");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["email"], "ada@example.com");
    assert_eq!(list[0]["role"], "admin");
    assert_eq!(list[0]["totp"], false);
    assert!(!out.contains("argon2"), "no hash in the list: {out}");

    // The password given works in the browser; a new one ends the session.
    let browser = Browser::new(&app);
    assert_eq!(browser.login("ada@example.com", PASSWORD).await.status, 303);
    let new_password = "another long password";
    let (code, out, err) = command(
        &app,
        &[
            "operators",
            "reset-password",
            "--email",
            "ada@example.com",
            "--password-stdin",
        ],
        &format!("{new_password}\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sessions ended"), "{out}");
    assert_eq!(browser.get("/admin").await.status, 303);
    assert_eq!(browser.login("ada@example.com", PASSWORD).await.status, 422);
    assert_eq!(
        browser.login("ada@example.com", new_password).await.status,
        303
    );

    let (code, _, _) = command(
        &app,
        &["operators", "disable", "--email", "ada@example.com"],
        "",
    );
    assert_eq!(code, 0);
    assert_eq!(browser.get("/admin").await.status, 303);
    let (_, out, _) = command(&app, &["operators", "list"], "");
    assert!(out.contains("disabled"), "{out}");
    let (code, _, err) = command(
        &app,
        &["operators", "disable", "--email", "nobody@example.com"],
        "",
    );
    assert_eq!(code, 2);
    assert!(err.contains("operator not found"), "{err}");

    let log = audit(&app).await;
    for action in [
        "operator.create",
        "operator.reset_password",
        "operator.disable",
    ] {
        assert!(
            log.contains(&(action.into(), "ada@example.com".into())),
            "{action}: {log:?}"
        );
    }
}

#[tokio::test]
async fn logs_hold_no_password_code_or_token_and_mask_e_mails() {
    use crate::processes::{free_port, server_with, stop, wait_until_up};
    let db = crate::helpers::TestDb::new().await;
    let app = proxycall::app::App::simulated(proxycall::store::connect(db.url()).await.unwrap());
    let email = Email::parse("ada.lovelace@example.com").unwrap();
    accounts::create(&app, &Actor::command_line(), &email, Role::Admin, PASSWORD)
        .await
        .unwrap();
    let port = free_port();
    let child = server_with(
        &db,
        port,
        &[(
            "PROXYCALL_API_TOKEN",
            "api-token-0123456789abcdef0123456789",
        )],
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_until_up(&reqwest::Client::new(), &base).await;

    let browser = Browser::at(&base);
    let wrong_password = "ada's wrong guess";
    assert_eq!(
        browser.login(email.as_str(), wrong_password).await.status,
        422
    );
    assert_eq!(browser.login(email.as_str(), PASSWORD).await.status, 303);
    let session = browser.cookies.lock().unwrap()["pc_admin"].clone();
    let (secret, codes) = enrol(&browser).await;
    logout(&browser).await;
    browser.login(email.as_str(), PASSWORD).await;
    let form = browser.get("/admin/login/totp").await;
    let code = totp::code_at(&secret, chrono::Utc::now() + chrono::Duration::seconds(30)).unwrap();
    for typed in ["999999", code.as_str(), codes[1].as_str()] {
        browser
            .post(
                "/admin/login/totp",
                &[("csrf_token", &form.csrf()), ("code", typed)],
            )
            .await;
    }

    let logs = stop(child).await;
    assert!(logs.contains("a***@example.com"), "{logs}");
    for secret in [
        PASSWORD,
        wrong_password,
        email.as_str(),
        &session,
        &secret,
        &code,
        &codes[1],
        &codes[1].replace('-', ""),
    ] {
        assert!(!logs.contains(secret), "{secret} is in the logs:\n{logs}");
    }
}

#[tokio::test]
async fn an_operator_logs_in_with_totp_in_a_real_browser() {
    use fantoccini::Locator;
    let app = spawn_app().await;
    let email = operator(&app, "ada@example.com", Role::Admin).await;
    let by_email = || async {
        app.app
            .store
            .operator_by_email(&email)
            .await
            .unwrap()
            .unwrap()
    };
    let ada = by_email().await;
    let enrolment = totp::start_enrolment(&app.app, &ada).await.unwrap();
    let ada = by_email().await;
    let code = totp::code_at(&enrolment.secret, chrono::Utc::now()).unwrap();
    assert!(
        totp::confirm_enrolment(&app.app, &ada, &code)
            .await
            .unwrap()
            .is_some()
    );
    let base = app.base.clone();
    let screenshots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();

    crate::browser::with_browser(|client| async move {
        client.goto(&format!("{base}/admin")).await.unwrap();
        assert_eq!(client.current_url().await.unwrap().path(), "/admin/login");
        let field = |id: &'static str| {
            let client = client.clone();
            async move { client.find(Locator::Id(id)).await.unwrap() }
        };
        field("email")
            .await
            .send_keys("ada@example.com")
            .await
            .unwrap();
        field("password").await.send_keys(PASSWORD).await.unwrap();
        client
            .find(Locator::Css("main button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        arrived_at(&client, "/admin/login/totp").await;
        let next = chrono::Utc::now() + chrono::Duration::seconds(30);
        field("code")
            .await
            .send_keys(&totp::code_at(&enrolment.secret, next).unwrap())
            .await
            .unwrap();
        client
            .find(Locator::Css("main button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        arrived_at(&client, "/admin").await;
        let heading = client
            .find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(heading, "Vue d'ensemble");
        let who = field("signed-in").await.text().await.unwrap();
        assert!(who.contains("ada@example.com"), "{who}");
        let png = client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(screenshots.join("admin-overview.png"), png).unwrap();

        client
            .goto(&format!("{base}/admin/account/totp"))
            .await
            .unwrap();
        let state = field("totp-state").await.attr("data-state").await.unwrap();
        assert_eq!(state.as_deref(), Some("on"));
        field("logout").await.click().await.unwrap();
        arrived_at(&client, "/admin/login").await;
        client.goto(&format!("{base}/admin")).await.unwrap();
        assert_eq!(client.current_url().await.unwrap().path(), "/admin/login");
    })
    .await;
}

/// Waits for the page a click led to: the click returns before the browser has followed the
/// form's redirect.
pub(crate) async fn arrived_at(client: &fantoccini::Client, path: &str) {
    for _ in 0..100 {
        if client.current_url().await.unwrap().path() == path {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "still at {} instead of {path}",
        client.current_url().await.unwrap()
    );
}

/// In the browser, on a page that shows the login form: `email` and the tests' password typed
/// in and sent, then waits to be at `lands_on` (the dashboard, or the second factor's page).
pub(crate) async fn log_in_browser(client: &fantoccini::Client, email: &str, lands_on: &str) {
    use fantoccini::Locator;
    for (id, text) in [("email", email), ("password", PASSWORD)] {
        client
            .find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }
    client
        .find(Locator::Css("main button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrived_at(client, lands_on).await;
}

/// Where the browser tests save their screenshots (`target/screenshots/`), made if missing.
pub(crate) fn screenshots() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

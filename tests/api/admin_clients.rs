//! The dashboard's clients (issue 10), over HTTP as a browser sees them: the search box and
//! what it understands, keyset pages, masking for viewers, a client's page and its audit, and
//! the operator's forms (change the proxy, give it back through the cool-off); then in a real
//! browser.

use proxycall::domain::{ClientId, ClientName, E164, Email, NumberType, Role};
use proxycall::store::NewClient;

use crate::admin_auth::{Browser, PASSWORD, between, operator};
use crate::helpers::{TestApp, spawn_app};

const COURIER: &str = "+33698765432";

async fn signed_in(app: &TestApp, email: &str, role: Role) -> Browser {
    operator(app, email, role).await;
    let browser = Browser::new(app);
    let page = browser.login(email, PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    browser
}

/// A client without a proxy, straight into the store.
async fn client(app: &TestApp, id: i64, name: &str, phone: &str) {
    app.app
        .store
        .insert_client(
            &NewClient {
                id: ClientId::new(id).unwrap(),
                name: ClientName::parse(name).unwrap(),
                mail: Email::parse(&format!("client{id}@example.com")).unwrap(),
                real_phone: E164::parse_shape(phone).unwrap(),
                iso_residency: None,
                country_code: Some("+33".into()),
            },
            None,
        )
        .await
        .unwrap();
}

/// The ids of the clients listed on a page, in order.
fn listed(body: &str) -> Vec<i64> {
    body.split("<tr id=\"client-")
        .skip(1)
        .map(|r| r.split('"').next().unwrap().parse().unwrap())
        .collect()
}

fn link(body: &str, id: &str) -> Option<String> {
    let at = body.find(&format!("id=\"{id}\""))?;
    let before = &body[..at];
    let href = &before[before.rfind("href=\"")? + 6..];
    Some(
        href[..href.find('"')?]
            .replace("&#38;", "&")
            .replace("&amp;", "&"),
    )
}

/// What the audit log holds, newest first: (actor, action, target, details).
async fn audit(app: &TestApp) -> Vec<(String, String, String, String)> {
    app.app
        .store
        .audit_page(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action, e.target.unwrap_or_default(), e.details))
        .collect()
}

#[tokio::test]
async fn the_clients_page_by_50_newest_first_with_keyset_links_that_keep_the_search() {
    let app = spawn_app().await;
    for id in 1..=120 {
        let name = if id % 2 == 0 {
            "Jeanne MARTIN"
        } else {
            "Paul Durand"
        };
        client(&app, id, name, &format!("+33612{id:06}")).await;
    }
    let viewer = signed_in(&app, "viewer@example.com", Role::Viewer).await;

    let first = viewer.get("/admin/clients").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(listed(&first.body), (71..=120).rev().collect::<Vec<_>>());
    assert!(link(&first.body, "clients-newer").is_none());
    let second = viewer
        .get(&link(&first.body, "clients-older").unwrap())
        .await;
    assert_eq!(listed(&second.body), (21..=70).rev().collect::<Vec<_>>());
    let third = viewer
        .get(&link(&second.body, "clients-older").unwrap())
        .await;
    assert_eq!(listed(&third.body), (1..=20).rev().collect::<Vec<_>>());
    assert!(link(&third.body, "clients-older").is_none());
    // Back up from the last page: the page before it again, then the first.
    let back = viewer
        .get(&link(&third.body, "clients-newer").unwrap())
        .await;
    assert_eq!(listed(&back.body), (21..=70).rev().collect::<Vec<_>>());
    let top = viewer
        .get(&link(&back.body, "clients-newer").unwrap())
        .await;
    assert_eq!(listed(&top.body), (71..=120).rev().collect::<Vec<_>>());
    assert!(link(&top.body, "clients-newer").is_none());

    // A search's pages keep it: 60 Jeannes, whatever the case typed.
    let jeannes = viewer.get("/admin/clients?q=jEaNnE%20m").await;
    let ids = listed(&jeannes.body);
    assert_eq!(ids.len(), 50, "{}", jeannes.body);
    assert!(ids.iter().all(|id| id % 2 == 0));
    let next = link(&jeannes.body, "clients-older").unwrap();
    assert!(next.contains("q=jEaNnE+m"), "{next}");
    let rest = listed(&viewer.get(&next).await.body);
    assert_eq!(rest, (2..=20).rev().step_by(2).collect::<Vec<_>>());

    // A bad page parameter: a clear 400 page.
    for query in [
        "before=x",
        "after=-1",
        "before=0",
        "before=5&after=9",
        "after=1e3",
    ] {
        let page = viewer.get(&format!("/admin/clients?{query}")).await;
        assert_eq!(page.status, 400, "{query}: {}", page.body);
        assert!(
            page.body.contains("This page number is not valid"),
            "{query}"
        );
    }
}

/// The ids a search lists, and its page.
async fn found(browser: &Browser, q: &str) -> (Vec<i64>, String) {
    let mut url = form_urlencoded::Serializer::new(String::new());
    let page = browser
        .get(&format!(
            "/admin/clients?{}",
            url.append_pair("q", q).finish()
        ))
        .await;
    assert_eq!(page.status, 200, "{q}: {}", page.body);
    (listed(&page.body), page.body)
}

#[tokio::test]
async fn the_search_box_finds_by_id_name_email_phone_or_proxy_and_escapes_what_was_typed() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(7, "+33611111111").await;
    client(&app, 8, "Paul <b>Durand</b>", "+33622222222").await;
    client(&app, 9, "Jeanne Petit", "+33633333333").await;
    client(&app, 10, "Émile Zola", "+33644444444").await;
    let ops = signed_in(&app, "ops@example.com", Role::Operator).await;
    assert_eq!(found(&ops, "8").await.0, [8]);
    assert_eq!(
        found(&ops, "jeanne").await.0,
        [9, 7],
        "a prefix of the name"
    );
    assert_eq!(found(&ops, "PAUL <b>").await.0, [8]);
    // A capital accented letter, on either engine's folding.
    assert_eq!(found(&ops, "Émile").await.0, [10]);
    assert_eq!(found(&ops, "ÉMILE z").await.0, [10]);
    assert_eq!(
        found(&ops, "durand").await.0,
        Vec::<i64>::new(),
        "a prefix only"
    );
    assert_eq!(found(&ops, "Client8@Example.com").await.0, [8]);
    assert_eq!(
        found(&ops, "jeanne7@").await.0,
        [7],
        "the start of an e-mail"
    );
    assert_eq!(
        found(&ops, "+33 6 33 33 33 33").await.0,
        [9],
        "the real phone"
    );
    assert_eq!(found(&ops, &proxy).await.0, [7]);
    assert_eq!(found(&ops, "0033611111111").await.0, [7]);

    // SQL is a name like any other; HTML is shown, never run.
    let (ids, _) = found(&ops, "'; drop table clients; --").await;
    assert!(ids.is_empty());
    assert_eq!(found(&ops, "x' or '1'='1").await.0, Vec::<i64>::new());
    assert_eq!(
        found(&ops, "").await.0,
        [10, 9, 8, 7],
        "the table is still there"
    );
    let (_, body) = found(&ops, "<script>alert(1)</script>").await;
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(body.contains("&#60;script&#62;alert(1)"), "{body}");
    let (_, body) = found(&ops, "PAUL <b>").await;
    assert!(!body.contains("<b>Durand"), "{body}");
    assert!(body.contains("Paul &#60;b&#62;Durand"), "{body}");
}

#[tokio::test]
async fn a_viewer_sees_numbers_masked_in_the_list_and_in_full_on_the_page_which_is_audited() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(7, "+33611111111").await;
    let (status, _) = app
        .webhook(
            "/twilio/voice",
            &[("From", COURIER), ("To", &proxy), ("CallSid", "CA1")],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .webhook(
            "/twilio/sms",
            &[
                ("From", COURIER),
                ("To", &proxy),
                ("Body", "Le code est 4242, au 3e"),
                ("MessageSid", "SM1"),
            ],
        )
        .await;
    assert_eq!(status, 200);

    let viewer = signed_in(&app, "viewer@example.com", Role::Viewer).await;
    let list = viewer.get("/admin/clients").await.body;
    let row = between(&list, "<tr id=\"client-7\"", "</tr>").unwrap();
    assert!(!row.contains("+33611111111"), "{row}");
    assert!(row.contains("+33*****1111"), "{row}");
    assert!(!row.contains("jeanne7@example.com"), "{row}");
    assert!(row.contains("j***@example.com"), "{row}");
    let ops = signed_in(&app, "ops@example.com", Role::Operator).await;
    let row = between(
        &ops.get("/admin/clients").await.body,
        "<tr id=\"client-7\"",
        "</tr>",
    )
    .unwrap();
    assert!(row.contains("+33611111111") && row.contains("jeanne7@example.com"));

    // The page: in full for a viewer too, the courier masked, never a body.
    let page = viewer.get("/admin/clients/7").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    assert!(
        body.contains("<td id=\"client-phone\">+33611111111</td>"),
        "{body}"
    );
    assert!(body.contains("<td id=\"client-mail\">jeanne7@example.com</td>"));
    assert!(body.contains(&format!("<td id=\"client-proxy\">{proxy}</td>")));
    assert!(!body.contains(COURIER), "{body}");
    assert!(body.contains("+33*****5432"), "{body}");
    assert!(body.contains("CMD-7"), "the order: {body}");
    let interactions = between(body, "<table id=\"interactions\">", "</table>").unwrap();
    assert!(interactions.contains("voice") && interactions.contains("sms"));
    assert!(!body.contains("4242") && !body.contains("au 3e"), "{body}");
    assert!(!body.contains("style="), "no inline style (CSP)");
    // A viewer gets no form.
    assert!(!body.contains("/admin/clients/7/proxy"));
    assert!(!body.contains("give-back"));

    let entries = audit(&app).await;
    let views: Vec<_> = entries.iter().filter(|e| e.1 == "client.view").collect();
    assert_eq!(views.len(), 1, "{entries:?}");
    assert_eq!(views[0].0, "viewer@example.com");
    assert_eq!(views[0].2, "client:7");
    assert!(!views[0].3.contains("+336"), "no number: {}", views[0].3);

    // Unknown: 404; not a number: 400; neither is audited.
    assert_eq!(viewer.get("/admin/clients/999").await.status, 404);
    for bad in ["abc", "-3", "0", "7.5"] {
        let page = viewer.get(&format!("/admin/clients/{bad}")).await;
        assert_eq!(page.status, 400, "{bad}: {}", page.body);
    }
    let views = audit(&app)
        .await
        .into_iter()
        .filter(|e| e.1 == "client.view")
        .count();
    assert_eq!(views, 1);
}

#[tokio::test]
async fn an_operator_changes_a_proxy_under_the_apis_rules_and_the_old_one_cools_off() {
    let app = spawn_app().await;
    let a_proxy = app.client_with_proxy(1, "+33611111111").await;
    let b_proxy = app.client_with_proxy(2, "+33622222222").await;
    let free = app.add_numbers("FR", NumberType::Mobile, 1).await.remove(0);
    let ops = signed_in(&app, "ops@example.com", Role::Operator).await;
    let csrf = ops.get("/admin/clients/1").await.csrf();

    // Another client's number: 409, naming the field; nothing changes.
    let taken = ops
        .post(
            "/admin/clients/1/proxy",
            &[("csrf_token", &csrf), ("proxy", &b_proxy)],
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert!(
        taken.body.contains("“client_proxy_number”"),
        "{}",
        taken.body
    );
    let not_a_number = ops
        .post(
            "/admin/clients/1/proxy",
            &[("csrf_token", &csrf), ("proxy", "+33 not")],
        )
        .await;
    assert_eq!(not_a_number.status, 400, "{}", not_a_number.body);
    assert!(not_a_number.body.contains("“client_proxy_number”"));
    let missing = ops
        .post(
            "/admin/clients/99/proxy",
            &[("csrf_token", &csrf), ("proxy", &free)],
        )
        .await;
    assert_eq!(missing.status, 404, "{}", missing.body);

    let changed = ops
        .post(
            "/admin/clients/1/proxy",
            &[("csrf_token", &csrf), ("proxy", &free)],
        )
        .await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    assert_eq!(changed.location(), "/admin/clients/1");
    let got = app.get("/clients/1").await;
    assert_eq!(got.body["client_proxy_number"], free.as_str());
    assert_eq!(app.pool_status(&free).await, "assigned");
    // The old one is free but rests: no new client gets it.
    assert_eq!(app.pool_status(&a_proxy).await, "available");
    let old = app
        .app
        .store
        .pool_number(&E164::parse_shape(&a_proxy).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.holder(), None);

    let entries = audit(&app).await;
    let changes: Vec<_> = entries
        .iter()
        .filter(|e| e.1 == "client.proxy_change")
        .collect();
    assert_eq!(changes.len(), 1, "only the one done: {entries:?}");
    assert_eq!(changes[0].2, "client:1");
    assert!(changes[0].3.contains(&free), "{}", changes[0].3);
}

#[tokio::test]
async fn an_operator_gives_a_proxy_back_through_the_cool_off_once_confirmed() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, "+33611111111").await;
    let ops = signed_in(&app, "ops@example.com", Role::Operator).await;
    let page = ops.get("/admin/clients/1").await;
    assert!(page.body.contains("action=\"/admin/clients/1/give-back\""));
    let csrf = page.csrf();

    // Not confirmed: nothing happens.
    let unconfirmed = ops
        .post("/admin/clients/1/give-back", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(unconfirmed.status, 400, "{}", unconfirmed.body);
    assert_eq!(app.pool_status(&proxy).await, "assigned");

    let given = ops
        .post(
            "/admin/clients/1/give-back",
            &[("csrf_token", &csrf), ("confirm", "on")],
        )
        .await;
    assert_eq!(given.status, 303, "{}", given.body);
    assert_eq!(app.get("/clients/1").await.body["client_proxy_number"], "");
    let number = app
        .app
        .store
        .pool_number(&E164::parse_shape(&proxy).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(number.status.as_str(), "available");
    assert_eq!(number.holder(), None);
    // It rests: a new client cannot get it, so the pool has nothing to give.
    let order = app
        .post(
            "/orders",
            &crate::helpers::order("CMD-2", 2, "+33622222222"),
        )
        .await;
    assert_eq!(order.status, 409, "{}", order.body);
    let page = ops.get("/admin/clients/1").await.body;
    assert!(
        !page.contains("action=\"/admin/clients/1/give-back\""),
        "no proxy left"
    );

    // Twice: nothing to give back.
    let again = ops
        .post(
            "/admin/clients/1/give-back",
            &[("csrf_token", &csrf), ("confirm", "on")],
        )
        .await;
    assert_eq!(again.status, 400, "{}", again.body);

    let entries = audit(&app).await;
    let given: Vec<_> = entries
        .iter()
        .filter(|e| e.1 == "client.proxy_give_back")
        .collect();
    assert_eq!(given.len(), 1, "{entries:?}");
    assert_eq!(given[0].2, "client:1");
}

#[tokio::test]
async fn give_back_proxy_leaves_the_client_without_one_and_the_number_resting() {
    use proxycall::app::clients;

    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, "+33611111111").await;
    let id = ClientId::new(1).unwrap();
    let given = clients::give_back_proxy(&app.app, id).await.unwrap();
    assert_eq!(given.as_str(), proxy);
    assert!(clients::get(&app.app, id).await.unwrap().proxy.is_none());
    assert!(clients::give_back_proxy(&app.app, id).await.is_err());
    assert!(matches!(
        clients::give_back_proxy(&app.app, ClientId::new(5).unwrap()).await,
        Err(proxycall::app::AppError::NotFound { .. })
    ));
    // The number rests: the pool has none to give a new client.
    let number = app.app.store.pool_number(&given).await.unwrap().unwrap();
    assert_eq!(number.status.as_str(), "available");
    let order = app
        .post(
            "/orders",
            &crate::helpers::order("CMD-2", 2, "+33622222222"),
        )
        .await;
    assert_eq!(order.status, 409, "{}", order.body);
}

#[tokio::test]
async fn a_viewer_posting_the_forms_is_refused_and_nothing_changes() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, "+33611111111").await;
    let free = app.add_numbers("FR", NumberType::Mobile, 1).await.remove(0);
    let viewer = signed_in(&app, "viewer@example.com", Role::Viewer).await;
    let csrf = viewer.get("/admin/clients").await.csrf();
    for (path, fields) in [
        ("/admin/clients/1/proxy", vec![("proxy", free.as_str())]),
        ("/admin/clients/1/give-back", vec![("confirm", "on")]),
    ] {
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend(fields);
        let refused = viewer.post(path, &form).await;
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
    }
    assert_eq!(
        app.get("/clients/1").await.body["client_proxy_number"],
        proxy.as_str()
    );
    assert_eq!(app.pool_status(&proxy).await, "assigned");
    assert_eq!(app.pool_status(&free).await, "available");
    assert!(
        !audit(&app)
            .await
            .iter()
            .any(|e| e.1.starts_with("client.proxy")),
        "nothing written"
    );
}

/// Waits (up to 10 s) for the browser to reach a page whose address passes `done`: a click's
/// navigation ends after the click returns.
async fn wait_for(client: &fantoccini::Client, done: impl Fn(&url::Url) -> bool) {
    for _ in 0..100 {
        if client.current_url().await.is_ok_and(|url| done(&url)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("still at {:?}", client.current_url().await);
}

#[tokio::test]
async fn in_a_real_browser_an_operator_searches_a_client_by_name_and_opens_its_page() {
    use fantoccini::Locator;

    let app = spawn_app().await;
    app.client_with_proxy(1, "+33611111111").await;
    client(&app, 2, "Paul Durand", "+33622222222").await;
    client(&app, 3, "Zoé Lefèvre", "+33633333333").await;
    operator(&app, "ops@example.com", Role::Operator).await;
    let base = app.base.clone();
    let screenshots = crate::admin_auth::screenshots();

    crate::browser::with_browser(|client| async move {
        client.set_window_size(1280, 1400).await.unwrap();
        client.goto(&format!("{base}/admin/clients")).await.unwrap();
        let field = |id: &'static str| {
            let client = client.clone();
            async move { client.find(Locator::Id(id)).await.unwrap() }
        };
        crate::admin_auth::log_in_browser(&client, "ops@example.com", "/admin").await;
        client.goto(&format!("{base}/admin/clients")).await.unwrap();
        field("q").await.send_keys("paul").await.unwrap();
        client
            .find(Locator::Css("#client-search button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for(&client, |url| url.query() == Some("q=paul")).await;
        let table = field("clients").await.text().await.unwrap();
        assert!(table.contains("Paul Durand"), "{table}");
        assert!(!table.contains("Jeanne"), "{table}");
        client
            .find(Locator::LinkText("Paul Durand"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for(&client, |url| url.path() == "/admin/clients/2").await;
        let phone = field("client-phone").await.text().await.unwrap();
        assert_eq!(phone, "+33622222222");
        client
            .goto(&format!("{base}/admin/clients?q=paul"))
            .await
            .unwrap();
        let png = client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(screenshots.join("admin-clients.png"), png).unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_draining_proxy_given_back_stays_draining_and_no_longer_held() {
    use proxycall::app::{clients, pool};

    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, "+33611111111").await;
    let number = E164::parse_shape(&proxy).unwrap();
    pool::drain(&app.app, std::slice::from_ref(&number), false)
        .await
        .unwrap();
    assert_eq!(app.pool_status(&proxy).await, "draining");
    clients::give_back_proxy(&app.app, ClientId::new(1).unwrap())
        .await
        .unwrap();
    let pooled = app.app.store.pool_number(&number).await.unwrap().unwrap();
    assert_eq!(pooled.status.as_str(), "draining");
    assert_eq!(pooled.holder(), None);
    assert!(
        app.app
            .store
            .client_by_proxy(&number)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_client_s_blocks_show_masked_and_an_operator_lifts_one() {
    let app = spawn_app().await;
    let proxy = app.client_with_proxy(1, "+33611111111").await;
    app.webhook(
        "/twilio/voice",
        &[("From", COURIER), ("To", &proxy), ("CallSid", "CA1")],
    )
    .await;
    app.webhook(
        "/twilio/sms",
        &[
            ("From", "+33611111111"),
            ("To", &proxy),
            ("Body", "BLOQUER #1"),
            ("MessageSid", "SM1"),
        ],
    )
    .await;
    let viewer = signed_in(&app, "viewer@example.com", Role::Viewer).await;
    let page = viewer.get("/admin/clients/1").await.body;
    assert!(page.contains("+33*****5432"), "masked: {page}");
    assert!(
        !page.contains(COURIER) && !page.contains("/unblock"),
        "{page}"
    );

    let ops = signed_in(&app, "ops@example.com", Role::Operator).await;
    let page = ops.get("/admin/clients/1").await;
    assert!(!page.body.contains(COURIER), "not even in a form");
    let key = between(&page.body, "name=\"contact\" value=\"", "\"").expect("an unblock form");
    let csrf = page.csrf();
    let wrong = ops
        .post(
            "/admin/clients/1/unblock",
            &[("csrf_token", &csrf), ("contact", "0000")],
        )
        .await;
    assert_eq!(wrong.status, 404);
    let lifted = ops
        .post(
            "/admin/clients/1/unblock",
            &[("csrf_token", &csrf), ("contact", &key)],
        )
        .await;
    assert_eq!(lifted.status, 303, "{}", lifted.body);
    assert!(
        app.get("/clients/1/blocks").await.body["blocks"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let entries = audit(&app).await;
    assert!(
        entries
            .iter()
            .any(|e| e.1 == "client.unblock" && e.2 == "client:1"),
        "{entries:?}"
    );
}

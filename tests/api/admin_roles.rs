//! Roles in a real browser: a viewer is offered no operator's form, and one forced through
//! anyway (a form rebuilt by hand, with the viewer's own CSRF token) is refused with a clear
//! page and starts nothing.

use fantoccini::Locator;
use proxycall::domain::{NumberType, Role};

use crate::admin_auth::{arrived_at, log_in_browser, operator};
use crate::helpers::spawn_app;

#[tokio::test]
async fn in_a_real_browser_a_viewer_is_refused_an_operators_action() {
    let app = spawn_app().await;
    app.client_with_proxy(1, "+33612345678").await;
    app.add_numbers("FR", NumberType::Local, 2).await;
    operator(&app, "viewer@example.com", Role::Viewer).await;
    let base = app.base.clone();
    let screenshots = crate::admin_auth::screenshots();
    let shown = crate::browser::with_browser(|client| async move {
        client.goto(&format!("{base}/admin/login")).await.unwrap();
        log_in_browser(&client, "viewer@example.com", "/admin").await;
        // The pages a viewer reads offer none of the operators' forms.
        for (path, form) in [
            ("/admin/pool", "form[action='/admin/pool/sync']"),
            ("/admin/clients/1", "form[action='/admin/clients/1/proxy']"),
        ] {
            client.goto(&format!("{base}{path}")).await.unwrap();
            let forms = client.find_all(Locator::Css(form)).await.unwrap();
            assert!(forms.is_empty(), "{path} offers {form} to a viewer");
        }
        // Forced anyway: the form an operator would have, with this session's own token.
        client.goto(&format!("{base}/admin/pool")).await.unwrap();
        client
            .execute(
                "const token = document.querySelector('input[name=csrf_token]').value;
                 const form = document.createElement('form');
                 form.method = 'post';
                 form.action = '/admin/pool/sync';
                 for (const [name, value] of [['csrf_token', token], ['apply', 'on']]) {
                   const field = document.createElement('input');
                   field.type = 'hidden'; field.name = name; field.value = value;
                   form.appendChild(field);
                 }
                 document.body.appendChild(form);
                 form.submit();",
                vec![],
            )
            .await
            .unwrap();
        arrived_at(&client, "/admin/pool/sync").await;
        let heading = client
            .find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(heading, "Accès refusé");
        let text = client
            .find(Locator::Css("main"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains("Rien n'a été modifié"), "{text}");
        crate::a11y::check(&client).await;
        std::fs::write(
            screenshots.join("admin-viewer-refused.png"),
            client.screenshot().await.unwrap(),
        )
        .unwrap();
    })
    .await;
    if shown.is_some() {
        let jobs = proxycall::app::jobs::list(&app.app, Some("pool.sync"), None, 10)
            .await
            .unwrap();
        assert!(jobs.is_empty(), "a viewer started {jobs:?}");
    }
}

//! Every operation of the served `/openapi.json` is refused without its credential, and a key
//! lacking the operation's own scope is refused too. Routes and the scope each needs are read
//! from the document the server serves, never from a list kept here: a route added without a
//! stated access fails this test (or stops the server from starting).

use proxycall::domain::Scope;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Answer, TestApp, spawn_app};

/// Who may call an operation, as its `security` says.
#[derive(Debug, Clone, PartialEq)]
enum Access {
    Public,
    TwilioSigned,
    Key(Scope),
    /// The dashboard: an operator's session cookie.
    OperatorSession,
}

struct Operation {
    method: Method,
    /// The template, as in the document.
    template: String,
    /// With plausible values in its parameters, so that the route matches.
    path: String,
    access: Access,
}

fn access_of(label: &str, operation: &Value) -> Access {
    let security = operation
        .get("security")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{label} states no security"));
    if security.is_empty() {
        return Access::Public;
    }
    assert_eq!(
        security.len(),
        1,
        "{label}: exactly one way in: {security:?}"
    );
    let requirement = security[0].as_object().unwrap();
    assert_eq!(
        requirement.len(),
        1,
        "{label}: exactly one scheme: {requirement:?}"
    );
    let (scheme, scopes) = requirement.iter().next().unwrap();
    let scopes: Vec<&str> = scopes
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    match scheme.as_str() {
        "twilio_signature" => {
            assert!(scopes.is_empty(), "{label}: {scopes:?}");
            Access::TwilioSigned
        }
        "operator_session" => {
            assert!(scopes.is_empty(), "{label}: {scopes:?}");
            Access::OperatorSession
        }
        "api_key" => {
            assert_eq!(scopes.len(), 1, "{label} declares exactly one scope");
            Access::Key(
                Scope::parse(scopes[0])
                    .unwrap_or_else(|| panic!("{label}: unknown scope {}", scopes[0])),
            )
        }
        other => panic!("{label}: unknown security scheme {other}"),
    }
}

/// A value that makes a path parameter match its route: the documented example, else one of
/// the documented type.
fn sample(label: &str, parameter: &Value) -> String {
    if let Some(example) = parameter["example"]
        .as_str()
        .or(parameter["schema"]["example"].as_str())
    {
        return example.to_owned();
    }
    match parameter["schema"]["type"].as_str() {
        Some("integer") => "1".to_owned(),
        other => panic!(
            "{label}: give the path parameter {} an example ({other:?})",
            parameter["name"]
        ),
    }
}

async fn operations(app: &TestApp) -> Vec<Operation> {
    let doc = app.get_with_key("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    let mut found = Vec::new();
    for (template, item) in doc.body["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let label = format!("{method} {template}");
            let mut path = template.clone();
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] == "path" {
                    let name = parameter["name"].as_str().unwrap();
                    path = path.replace(&format!("{{{name}}}"), &sample(&label, parameter));
                }
            }
            assert!(
                !path.contains('{'),
                "{label}: a path parameter is undocumented"
            );
            found.push(Operation {
                access: access_of(&label, operation),
                method,
                template: template.clone(),
                path,
            });
        }
    }
    found
}

async fn call(app: &TestApp, op: &Operation, key: Option<&str>) -> Answer {
    app.send_with_key(op.method.clone(), &op.path, &json!({}), key)
        .await
}

/// Every scope that is not `scope`; never `admin`, which holds them all.
fn every_scope_but(scope: Scope) -> String {
    Scope::ALL
        .into_iter()
        .filter(|s| *s != scope && *s != Scope::Admin)
        .map(Scope::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test]
async fn every_operation_refuses_a_caller_without_its_credential_or_scope() {
    let app = spawn_app().await;
    let operations = operations(&app).await;
    let (mut public, mut signed, mut keyed, mut session) = (0, 0, 0, 0);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for op in &operations {
        let label = format!("{} {}", op.method, op.template);
        match op.access {
            Access::Public => {
                public += 1;
                // No credential is asked for; what the request lacks otherwise (a page's
                // token or form, a link's token) may still be refused.
                let answer = call(&app, op, None).await;
                assert!(
                    answer.status != 401
                        && !answer.headers.contains_key("www-authenticate")
                        && !["unauthorized", "bad_signature"].contains(&answer.code())
                        && !answer.status.is_server_error(),
                    "{label} is public: {} {}",
                    answer.status,
                    answer.text
                );
            }
            Access::OperatorSession => {
                session += 1;
                // No session: the login page, whatever the method; an API key is no way in.
                let answer = no_redirects
                    .request(op.method.clone(), format!("{}{}", app.base, op.path))
                    .bearer_auth(&app.key)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 303, "{label} without a session");
                assert_eq!(
                    answer.headers()["location"],
                    "/admin/login",
                    "{label} without a session"
                );
            }
            Access::TwilioSigned => {
                signed += 1;
                let (status, body) = app.webhook_signed(&op.path, &[], "forged").await;
                assert_eq!(status, 403, "{label} with a bad signature: {body}");
                let unsigned = call(&app, op, None).await;
                assert_eq!(unsigned.status, 403, "{label} unsigned: {}", unsigned.text);
                assert_eq!(unsigned.code(), "bad_signature", "{label}");
                // An API key is no way around the signature.
                let with_key = call(&app, op, Some(&app.key)).await;
                assert_eq!(with_key.status, 403, "{label} with an admin key");
            }
            Access::Key(scope) => {
                keyed += 1;
                let none = call(&app, op, None).await;
                assert_eq!(none.status, 401, "{label} without a key: {}", none.text);
                assert_eq!(none.code(), "unauthorized", "{label}");

                let others = app.key_with_scopes(&every_scope_but(scope)).await;
                let refused = call(&app, op, Some(&others)).await;
                assert_eq!(
                    refused.status,
                    403,
                    "{label} with every scope but {}: {}",
                    scope.as_str(),
                    refused.text
                );
                assert_eq!(refused.code(), "forbidden", "{label}");
                assert!(
                    refused.text.contains(&format!("'{}'", scope.as_str())),
                    "{label}: {}",
                    refused.text
                );

                // The scope it declares is the one it enforces, not a stricter one.
                if scope != Scope::Admin {
                    let own = app.key_with_scopes(scope.as_str()).await;
                    let passed = call(&app, op, Some(&own)).await;
                    assert!(
                        ![401, 403].contains(&passed.status.as_u16()),
                        "{label} with the '{}' scope: {} {}",
                        scope.as_str(),
                        passed.status,
                        passed.text
                    );
                }
            }
        }
    }
    // The walk must have covered something of each kind, or it proves nothing.
    assert!(public >= 3, "public operations: {public}");
    assert!(signed >= 2, "Twilio-signed operations: {signed}");
    assert!(keyed >= 9, "operations needing a key: {keyed}");
    assert!(session >= 4, "operations needing a session: {session}");
}

#[tokio::test]
async fn the_document_states_the_scope_of_each_business_route() {
    let app = spawn_app().await;
    let access: Vec<(String, Access)> = operations(&app)
        .await
        .into_iter()
        .map(|op| (format!("{} {}", op.method, op.template), op.access))
        .collect();
    let of = |label: &str| {
        access
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| panic!("{label} is not in the document"))
    };
    // The README's table, as the server states it.
    for (label, expected) in [
        ("POST /orders", Access::Key(Scope::Orders)),
        ("POST /clients", Access::Key(Scope::Clients)),
        ("PUT /clients/{client_id}", Access::Key(Scope::Clients)),
        ("GET /clients/next-id", Access::Key(Scope::Read)),
        ("GET /clients/{client_id}", Access::Key(Scope::Read)),
        ("GET /clients/by-proxy/{proxy}", Access::Key(Scope::Read)),
        ("GET /pool/available", Access::Key(Scope::Read)),
        ("POST /pool/assign", Access::Key(Scope::Pool)),
        ("POST /pool/provision", Access::Key(Scope::Pool)),
        ("POST /pool/sync", Access::Key(Scope::Pool)),
        ("GET /metrics", Access::Key(Scope::Read)),
        ("POST /twilio/voice", Access::TwilioSigned),
        ("POST /twilio/sms", Access::TwilioSigned),
        ("GET /health", Access::Public),
        ("GET /ready", Access::Public),
        ("GET /openapi.json", Access::Public),
        ("GET /activate", Access::Public),
        ("POST /activate", Access::Public),
        ("GET /activate/status", Access::Public),
        ("GET /confirmations/verify", Access::Public),
        ("GET /static/pages.css", Access::Public),
        ("GET /admin/login", Access::Public),
        ("POST /admin/login", Access::Public),
        ("POST /admin/login/totp", Access::Public),
        ("GET /admin", Access::OperatorSession),
        ("POST /admin/logout", Access::OperatorSession),
        ("GET /admin/audit", Access::OperatorSession),
        ("POST /admin/account/totp", Access::OperatorSession),
    ] {
        assert_eq!(of(label), expected, "{label}");
    }
}

//! The operator's commands, run as the real binary: `check`, the demo's refusals, `jobs list`,
//! `--version`, the completions and every `--json`.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use proxycall::app::App;
use proxycall::store::{self, NewJob};
use serde_json::{Value, json};

use crate::helpers::{ACCOUNT_SID, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_proxycall");

/// Runs the binary with only these variables and the database.
fn run(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PROXYCALL_DATABASE_URL", db.url());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What the double was asked: (the file requested, its `Authorization` header).
type Seen = Arc<Mutex<Vec<(String, String)>>>;
/// The double's state: what it saw, and its answer.
type Double = (Seen, u16, Value);

/// A Twilio double for the account fetch: answers `status` with `body`, and records the
/// paths and `Authorization` headers it was asked for.
async fn account_double(status: u16, body: Value) -> (String, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = (seen.clone(), status, body);
    let router = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{file}",
            get(
                |State((seen, status, body)): State<Double>,
                 Path(file): Path<String>,
                 headers: HeaderMap| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    seen.lock().unwrap().push((file, auth));
                    (StatusCode::from_u16(status).unwrap(), axum::Json(body))
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, seen)
}

fn twilio_env(api_base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_owned()),
        ("TWILIO_AUTH_TOKEN", "test-auth-token".to_owned()),
        ("TWILIO_API_BASE", api_base.to_owned()),
        (
            "PUBLIC_BASE_URL",
            "https://proxycall.example.com".to_owned(),
        ),
        (
            "PROXYCALL_API_TOKEN",
            "an-operator-token-0123456789abcdef".to_owned(),
        ),
    ]
}

async fn check_against(status: u16, body: Value) -> (std::process::Output, Vec<(String, String)>) {
    let db = TestDb::new().await;
    store::connect(db.url()).await.unwrap();
    let (base, seen) = account_double(status, body).await;
    // The double runs on this test's runtime: the command waits on another thread.
    let out = tokio::task::spawn_blocking(move || {
        let env = twilio_env(&base);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = run(&db, &["check"], &env);
        drop(db);
        out
    })
    .await
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    (out, seen)
}

#[tokio::test]
async fn check_with_twilio_credentials_fetches_the_account_from_the_configured_api() {
    let (out, seen) = check_against(
        200,
        json!({"sid": ACCOUNT_SID, "status": "active", "friendly_name": "Livraisons Dupont"}),
    )
    .await;
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("carrier: twilio at http://127.0.0.1:"),
        "{said}"
    );
    assert!(said.contains("\"Livraisons Dupont\" (active)"), "{said}");
    assert!(said.contains("all checks passed"), "{said}");
    assert!(
        !said.contains("test-auth-token"),
        "the token is never printed"
    );
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, format!("{ACCOUNT_SID}.json"));
    assert!(seen[0].1.starts_with("Basic "), "authenticated: {seen:?}");
}

#[tokio::test]
async fn check_says_clearly_when_twilio_refuses_the_credentials() {
    let (out, seen) = check_against(
        401,
        json!({"code": 20003, "message": "Authenticate", "status": 401}),
    )
    .await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(
            "the carrier refused our credentials (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)"
        ),
        "{said}"
    );
    assert!(said.contains("1 problem(s) found"), "{said}");
    assert_eq!(seen.len(), 1, "asked once: a refusal is not retried");
}

#[tokio::test]
async fn check_reports_every_bad_setting_and_an_unreachable_database() {
    let db = TestDb::new().await;
    let out = run(
        &db,
        &["check"],
        &[("PROXYCALL_CARRIER", "twilio"), ("PORT", "eighty")],
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    for name in ["PORT", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"] {
        assert!(said.contains(name), "{name} named: {said}");
    }

    let missing = run(
        &db,
        &["check"],
        &[(
            "PROXYCALL_DATABASE_URL",
            "sqlite:///nonexistent-dir/none.db",
        )],
    );
    let said = text(&missing);
    assert_eq!(missing.status.code(), Some(1), "{said}");
    assert!(
        said.contains("database: sqlite:///nonexistent-dir/none.db: unreachable"),
        "{said}"
    );
    assert!(
        !std::path::Path::new("/nonexistent-dir/none.db").exists(),
        "looking creates nothing"
    );
}

#[tokio::test]
async fn the_demo_refuses_twilio_credentials_and_a_database_with_real_data() {
    let db = TestDb::new().await;
    let env = twilio_env("http://127.0.0.1:9");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run(&db, &["demo"], &env);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("simulated carrier only"), "{said}");

    // An operator's key makes this a real database.
    let key = run(
        &db,
        &["keys", "create", "--name", "ops", "--scopes", "admin"],
        &[],
    );
    assert!(key.status.success(), "{}", text(&key));
    let out = run(&db, &["demo"], &[("PROXYCALL_LISTEN", "127.0.0.1:0")]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("not the demo's"), "{said}");
    let app = App::simulated(store::connect(db.url()).await.unwrap());
    assert!(
        app.store
            .pool_numbers(None, proxycall::domain::NumberTypeFilter::Any, None)
            .await
            .unwrap()
            .is_empty(),
        "no demo number written"
    );
}

#[tokio::test]
async fn jobs_list_shows_kinds_this_binary_does_not_know() {
    let db = TestDb::new().await;
    let store = store::connect(db.url()).await.unwrap();
    let now = chrono::Utc::now();
    store
        .enqueue_job(
            &NewJob {
                kind: "reports.weekly.v2".into(),
                payload: "{}".into(),
                due_at: now,
                max_attempts: 3,
                dedupe_key: None,
            },
            now,
        )
        .await
        .unwrap();
    let out = run(&db, &["jobs", "list"], &[]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("reports.weekly.v2 (unknown here)"), "{said}");
    assert!(said.contains("queued"), "{said}");
    let bad = run(&db, &["jobs", "list", "--status", "sleeping"], &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("--status"));
}

#[tokio::test]
async fn the_demo_refuses_an_older_real_database_without_migrating_it() {
    let db = TestDb::new().await;
    // A database an older release left, with an operator's key in it.
    store::open(db.url(), store::Migrations::UpTo(2))
        .await
        .unwrap();
    db.exec(
        "insert into api_keys (id, name, key_hash, scopes, created_at) \
         values ('k1', 'ops', 'abc', 'admin', '2026-11-30T10:00:00+00:00')",
    )
    .await;
    let out = run(&db, &["demo"], &[("PROXYCALL_LISTEN", "127.0.0.1:0")]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("not the demo's"), "{said}");
    let status = store::connect_as_is(db.url())
        .await
        .unwrap()
        .migration_status()
        .await
        .unwrap();
    assert_eq!(status.applied, 2, "left as it was");
}

#[test]
fn the_version_names_the_commit_and_completions_load_in_bash() {
    let version = std::process::Command::new(BIN)
        .arg("--version")
        .env_clear()
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&version.stdout).into_owned();
    assert!(version.status.success(), "{said}");
    let commit = said
        .trim()
        .strip_suffix(')')
        .and_then(|s| s.split_once("(commit "))
        .map(|(_, c)| c.to_owned())
        .unwrap_or_else(|| panic!("no commit in {said:?}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{said:?}"
    );
    // Loaded as a user would (no database, no settings needed), then asked to complete.
    let script = format!(
        "source <('{BIN}' completions bash) && complete -p proxycall && \
         COMP_WORDS=(proxycall po) COMP_CWORD=1 && _proxycall proxycall po proxycall && \
         echo \"${{COMPREPLY[@]}}\""
    );
    let bash = std::process::Command::new("bash")
        .args(["-c", &script])
        .env_clear()
        .output()
        .unwrap();
    let said = text(&bash);
    assert!(bash.status.success(), "{said}");
    assert!(said.contains("-F _proxycall proxycall"), "{said}");
    assert!(said.lines().last().unwrap().contains("pool"), "{said}");
    for shell in ["zsh", "fish"] {
        let out = std::process::Command::new(BIN)
            .args(["completions", shell])
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("proxycall"));
    }
    let bad = std::process::Command::new(BIN)
        .args(["completions", "tcsh"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("tcsh"), "{}", text(&bad));
}

/// The command's standard output, parsed as JSON (it must be nothing else).
fn json_of(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test]
async fn every_listing_and_report_prints_json_that_parses_on_demand() {
    let db = TestDb::new().await;
    let created = json_of(&run(
        &db,
        &[
            "keys", "create", "--name", "shop", "--scopes", "orders", "--json",
        ],
        &[],
    ));
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["key"].as_str().unwrap().to_owned();
    assert_eq!(created["state"], "active");
    assert_eq!(created["scopes"], "orders");
    let listed = json_of(&run(&db, &["keys", "list", "--json"], &[]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    // A listing never holds the key itself.
    assert!(!listed.to_string().contains(&secret));
    let revoked = json_of(&run(&db, &["keys", "revoke", &id, "--json"], &[]));
    assert_eq!(revoked, json!({"id": id, "revoked": true}));
    assert_eq!(
        json_of(&run(&db, &["keys", "list", "--json"], &[]))[0]["state"],
        "revoked"
    );

    let store = store::connect(db.url()).await.unwrap();
    let now = chrono::Utc::now();
    store
        .enqueue_job(
            &NewJob {
                kind: "reports.weekly.v2".into(),
                payload: "{\"to\":\"+33612345678\"}".into(),
                due_at: now,
                max_attempts: 3,
                dedupe_key: None,
            },
            now,
        )
        .await
        .unwrap();
    let jobs = json_of(&run(&db, &["jobs", "list", "--json"], &[]));
    assert_eq!(jobs[0]["kind"], "reports.weekly.v2");
    assert_eq!(jobs[0]["known_here"], false);
    assert_eq!(jobs[0]["status"], "queued");
    assert!(!jobs.to_string().contains("+33612345678"), "{jobs}");

    let pool = json_of(&run(&db, &["pool", "list", "--json"], &[]));
    assert!(pool.is_array(), "{pool}");
    let operators = json_of(&run(&db, &["operators", "list", "--json"], &[]));
    assert!(operators.is_array(), "{operators}");
    let requeue = json_of(&run(
        &db,
        &["outbox", "requeue", "--failed-since", "1h", "--json"],
        &[],
    ));
    assert_eq!(requeue, json!({"requeued": [], "refused": []}));
}

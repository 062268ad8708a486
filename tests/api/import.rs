//! `proxycall import`: the CSV exports of the Google Sheets version (API-COMPAT §7), through
//! the real binary, on the fixtures of `tests/fixtures/sheets/` shaped like the real sheets.

use std::path::{Path, PathBuf};

use proxycall::domain::{ClientId, E164, NumberType, NumberTypeFilter, PendingId};
use proxycall::store::{self, PoolStatus, Store};
use serde_json::{Value, json};

use crate::helpers::{TestDb, order, spawn_app};
use crate::processes::BIN;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sheets")
        .join(name)
        .display()
        .to_string()
}

fn import(db: &TestDb, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .arg("import")
        .args(args)
        .env_clear()
        .env("PROXYCALL_DATABASE_URL", db.url())
        .output()
        .unwrap()
}

fn all_three() -> Vec<String> {
    vec![
        "--clients".into(),
        fixture("Clients.csv"),
        "--pool".into(),
        fixture("TwilioPools.csv"),
        "--pending".into(),
        fixture("CONFIRMATION_PENDING.csv"),
    ]
}

fn json_report(db: &TestDb, extra: &[&str]) -> Value {
    let files = all_three();
    let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    args.push("--json");
    let out = import(db, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn lines(report: &Value, key: &str) -> Vec<(String, u64)> {
    report[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["sheet"].as_str().unwrap().to_owned(),
                r["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn store_of(db: &TestDb) -> std::sync::Arc<dyn Store> {
    store::connect(db.url()).await.unwrap()
}

async fn counts(db: &TestDb) -> (usize, usize) {
    let s = store_of(db).await;
    let pool = s
        .pool_numbers(None, NumberTypeFilter::Any, None)
        .await
        .unwrap()
        .len();
    let clients = (1..=5).map(|id| ClientId::new(id).unwrap());
    let mut n = 0;
    for id in clients {
        n += usize::from(s.client(id).await.unwrap().is_some());
    }
    (n, pool)
}

fn e164(raw: &str) -> E164 {
    E164::parse(raw).unwrap()
}

fn temp_csv(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path: PathBuf = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn the_sheets_import_once_with_bad_rows_reported_by_line() {
    let db = TestDb::new().await;
    let first = json_report(&db, &[]);
    assert_eq!(
        first["counts"],
        json!({
            "clients": {"imported": 3, "already_present": 0},
            "pool": {"imported": 5, "already_present": 0},
            "pending": {"imported": 2, "already_present": 0},
        }),
        "{first}"
    );
    assert_eq!(
        lines(&first, "refused_rows"),
        vec![
            ("TwilioPools".to_owned(), 7),
            ("Clients".to_owned(), 6),
            ("Clients".to_owned(), 7),
        ],
        "{first}"
    );
    assert_eq!(
        lines(&first, "notices"),
        vec![("CONFIRMATION_PENDING".to_owned(), 2)]
    );
    assert!(
        first["notices"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("must be started again")
    );

    let s = store_of(&db).await;
    // Numbers without `+`, `'`-prefixed, number cells: all E.164.
    let marie = s.client(ClientId::new(1).unwrap()).await.unwrap().unwrap();
    assert_eq!(marie.real_phone.as_str(), "+33612345678");
    assert_eq!(marie.proxy, Some(e164("+33780000001")));
    assert_eq!(marie.last_caller, Some(e164("+33698765432")));
    // The sheet's last caller is a recent contact: the client's calls and texts reach them.
    let since = chrono::Utc::now() - chrono::Duration::days(7);
    let facts = s
        .routing_facts(&[e164("+33780000001")], &[], since, 5)
        .await
        .unwrap();
    assert_eq!(
        facts
            .contacts
            .iter()
            .map(|c| c.number.as_str())
            .collect::<Vec<_>>(),
        ["+33698765432"]
    );
    assert_eq!(marie.mail.as_str(), "marie.dupont@example.com");
    let paul = s.client(ClientId::new(2).unwrap()).await.unwrap().unwrap();
    assert_eq!(paul.real_phone.as_str(), "+33611111111");
    assert_eq!(paul.proxy, Some(e164("+33780000002")));

    let assigned = s.pool_number(&e164("+33780000001")).await.unwrap().unwrap();
    assert_eq!(assigned.status, PoolStatus::Assigned);
    assert_eq!(assigned.owner_client_id, ClientId::new(1).ok());
    assert_eq!(
        assigned.purchased_at.unwrap().to_rfc3339(),
        "2026-03-18T17:00:00.123456+00:00",
        "a naive date is UTC"
    );
    let error = s.pool_number(&e164("+33780000004")).await.unwrap().unwrap();
    assert_eq!(
        error.status,
        PoolStatus::Draining,
        "`error` is imported as draining"
    );
    assert_eq!(error.owner_client_id, ClientId::new(5).ok());
    assert!(
        s.pool_number(&e164("+33780000007"))
            .await
            .unwrap()
            .is_none()
    );

    let waiting = s
        .activation(&PendingId::parse("P-abc").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waiting.status.as_str(), "EXPIRED");
    assert!(
        waiting.reserved,
        "its reservation is given back by the sweep"
    );
    let done = s
        .activation(&PendingId::parse("P-done").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status.as_str(), "PROMOTED");
    // The code in clear is nowhere.
    for row in db.text_columns("select * from activations").await {
        for (column, value) in row {
            let value = value.unwrap_or_default();
            assert!(
                !value.contains("482913") && !value.contains("730519"),
                "{column} holds a code"
            );
        }
    }
    let codes = db
        .text_columns("select code_hash from activation_codes")
        .await;
    assert!(codes.is_empty(), "no code is imported, not even hashed");

    let second = json_report(&db, &[]);
    assert_eq!(
        second["counts"],
        json!({
            "clients": {"imported": 0, "already_present": 3},
            "pool": {"imported": 0, "already_present": 5},
            "pending": {"imported": 0, "already_present": 2},
        }),
        "{second}"
    );
    assert_eq!(counts(&db).await, (3, 5));
}

#[tokio::test]
async fn a_dry_run_counts_and_writes_nothing() {
    let db = TestDb::new().await;
    let files = all_three();
    let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
    args.push("--dry-run");
    let out = import(&db, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Clients: would import 3, already present 0"),
        "{text}"
    );
    assert!(
        text.contains("TwilioPools line 7: not imported: status \"bogus\" is unknown"),
        "{text}"
    );
    assert!(
        text.contains("Clients line 6: not imported: client_real_phone"),
        "{text}"
    );
    assert!(
        text.contains("Clients line 7: not imported: client_mail"),
        "{text}"
    );
    assert_eq!(counts(&db).await, (0, 0));
}

#[tokio::test]
async fn a_file_without_its_headers_is_refused_naming_them_before_anything_is_written() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let pool = temp_csv(
        &dir,
        "TwilioPools.csv",
        "country_iso,phone_number,friendly_name,date_achat,date_attribution,\
         attribution_to_client_name,reserved_token,reserved_at,reserved_by_client_id\n\
         FR,33780000005,,,,,,,\n",
    );
    let out = import(
        &db,
        &["--clients", &fixture("Clients.csv"), "--pool", &pool],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing headers: status, number_type"),
        "{stderr}"
    );
    assert_eq!(counts(&db).await, (0, 0));
}

const HEADERS: &str = "client_id,client_name,client_mail,client_real_phone,client_proxy_number,\
                       client_iso_residency,client_country_code,client_last_caller,sub_in_shopi\n\
                       ,,,,,FR,33,,\n";
const POOL: &str = "country_iso,phone_number,status,friendly_name,date_achat,date_attribution,\
                    attribution_to_client_name,number_type,reserved_token,reserved_at,\
                    reserved_by_client_id\n\
                    FR,33780000001,assigned,,,,,mobile,,,1\n";

#[tokio::test]
async fn one_proxy_for_two_clients_is_refused_with_nothing_written() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let clients = temp_csv(
        &dir,
        "Clients.csv",
        &format!(
            "{HEADERS}1,Marie DUPONT,marie@example.com,33612345678,33780000001,FR,33,,\n\
             2,MARTIN Paul,paul@example.com,33611111111,'+33780000001,FR,33,,\n"
        ),
    );
    let pool = temp_csv(&dir, "TwilioPools.csv", POOL);
    let out = import(&db, &["--clients", &clients, "--pool", &pool]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("refused: Clients lines 3, 4: proxy +33780000001 is given to 2 clients"),
        "{stdout}"
    );
    assert_eq!(counts(&db).await, (0, 0), "not even the pool file");
}

#[tokio::test]
async fn a_proxy_missing_from_the_pool_file_is_refused_with_nothing_written() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let clients = temp_csv(
        &dir,
        "Clients.csv",
        &format!(
            "{HEADERS}1,Marie DUPONT,marie@example.com,33612345678,33780000001,FR,33,,\n\
             2,MARTIN Paul,paul@example.com,33611111111,33780000009,FR,33,,\n"
        ),
    );
    let pool = temp_csv(&dir, "TwilioPools.csv", POOL);
    let out = import(&db, &["--clients", &clients, "--pool", &pool, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["refused_set"],
        json!(["Clients line 4: proxy +33780000009 is not in the pool file"])
    );
    assert_eq!(counts(&db).await, (0, 0));
}

#[tokio::test]
async fn a_draining_number_is_never_handed_to_a_new_client() {
    let app = spawn_app().await;
    let numbers = app.add_numbers("FR", NumberType::Mobile, 1).await;
    app.db
        .exec("update pool_numbers set status = 'draining'")
        .await;
    let answer = app
        .post("/orders", &order("CMD-1", 1, "+33612345678"))
        .await;
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert_eq!(answer.code(), "pool_exhausted");
    let activation = app
        .post(
            "/confirmations/create",
            &json!({
                "client_name": "Jeanne Martin",
                "client_mail": "jeanne@example.com",
                "client_real_phone": "+33612345678",
                "country_iso": "FR",
                "number_type": "mobile",
            }),
        )
        .await;
    assert_eq!(activation.status, 409, "{}", activation.body);
    let kept = app
        .app
        .store
        .pool_number(&e164(&numbers[0]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.status, PoolStatus::Draining);
}

#[tokio::test]
async fn a_proxy_another_stored_client_has_fails_the_whole_set() {
    let db = TestDb::new().await;
    json_report(&db, &[]);
    let dir = tempfile::tempdir().unwrap();
    let clients = temp_csv(
        &dir,
        "Clients.csv",
        &format!(
            "{HEADERS}8,Ana SILVA,ana@example.com,33655555555,,FR,33,,\n\
             9,Rui COSTA,rui@example.com,33666666666,33780000001,FR,33,,\n"
        ),
    );
    let out = import(&db, &["--clients", &clients]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("refused: Clients line 4: proxy +33780000001 is already client 1's"),
        "{stdout}"
    );
    let s = store_of(&db).await;
    for id in [8, 9] {
        assert!(
            s.client(ClientId::new(id).unwrap())
                .await
                .unwrap()
                .is_none(),
            "client {id} was written"
        );
    }
}

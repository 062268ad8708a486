//! `proxycall pool …`: the pool operations from the command line, run as the real binary —
//! the routes' jobs and reports, `--json` for scripts, Twilio when its credentials are set.

use proxycall::app::App;
use proxycall::app::pool::PurgeWithoutSmsJob;
use proxycall::domain::NumberType;
use proxycall::store;
use serde_json::Value;

use crate::helpers::{ACCOUNT_SID, TestDb};
use crate::rented::{Deletions, add_pool_number, sid};

const BIN: &str = env!("CARGO_BIN_EXE_proxycall");

/// Runs the binary with only the database and these variables, off the test's runtime (a
/// double on it may have to answer).
async fn run(db_url: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PROXYCALL_DATABASE_URL", db_url);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// The command's `--json` report; it must have succeeded.
fn report(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn pool_operations_run_from_the_command_line_with_the_routes_reports() {
    let db = TestDb::new().await;
    let url = db.url().to_owned();

    let bought = run(
        &url,
        &[
            "pool",
            "provision",
            "--country",
            "FR",
            "--batch-size",
            "3",
            "--json",
        ],
        &[],
    )
    .await;
    let bought = report(&bought);
    let numbers: Vec<String> = bought["purchased_now"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(numbers.len(), 3, "{bought}");

    let drained = report(&run(&url, &["pool", "drain", &numbers[0], "--json"], &[]).await);
    assert_eq!(drained["changed"][0]["status"], "draining", "{drained}");

    let released = run(
        &url,
        &["pool", "release", &numbers[0], "+33799999999", "--json"],
        &[],
    )
    .await;
    let err = stderr(&released);
    let released = report(&released);
    assert_eq!(released["released"][0], numbers[0].as_str(), "{released}");
    assert_eq!(released["not_found"][0], "+33799999999");
    // Not a terminal: plain lines, no bar drawn with escape codes.
    assert!(err.contains("release: job "), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");

    // A dry run by default, as the route: the released number is not looked at.
    let fix = report(&run(&url, &["pool", "fix-webhooks", "--json"], &[]).await);
    assert_eq!(fix["dry_run"], true);
    assert_eq!(fix["checked"], 2, "{fix}");
    let fix = report(
        &run(
            &url,
            &["pool", "fix-webhooks", "--dry-run=false", "--json"],
            &[],
        )
        .await,
    );
    assert_eq!(fix["dry_run"], false, "{fix}");

    let purge = report(&run(&url, &["pool", "purge-sans-sms", "--json"], &[]).await);
    assert_eq!(purge["kept_sms_capable"], 2, "{purge}");

    let listed = report(&run(&url, &["pool", "list", "--json"], &[]).await);
    let statuses: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["released", "available", "available"]);

    // A number added by hand that the carrier does not rent: sync finds it missing, says so
    // without `--apply`, then flags it.
    let added = run(&url, &["pool", "add", "+33780000999"], &[]).await;
    assert!(added.status.success(), "{}", stderr(&added));
    let dry = report(&run(&url, &["pool", "sync", "--apply=false", "--json"], &[]).await);
    assert_eq!(dry["apply"], false, "{dry}");
    assert_eq!(
        dry["missing_on_twilio"],
        serde_json::json!(["+33780000999"]),
        "{dry}"
    );
    assert_eq!(dry["flagged"], serde_json::json!([]), "{dry}");
    let synced = report(&run(&url, &["pool", "sync", "--json"], &[]).await);
    assert_eq!(
        synced["flagged"],
        serde_json::json!(["+33780000999"]),
        "{synced}"
    );
    let missing = report(
        &run(
            &url,
            &["pool", "list", "--status", "missing", "--json"],
            &[],
        )
        .await,
    );
    assert_eq!(missing[0]["phone_number"], "+33780000999", "{missing}");

    // For a person: one line per key.
    let plain = run(&url, &["pool", "drain", &numbers[1]], &[]).await;
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(
        text.contains(&format!("changed: 1\n  {} status=draining", numbers[1])),
        "{text}"
    );

    // Bad options are refused before anything runs, naming the option.
    for (args, flag) in [
        (
            vec!["pool", "provision", "--country", "FR", "--batch-size", "0"],
            "--batch-size",
        ),
        (vec!["pool", "provision", "--country", "XX"], "--country"),
        (
            vec!["pool", "fix-webhooks", "--only-status", "lost"],
            "--only-status",
        ),
        (vec!["pool", "release", "+33 7"], "+33 7"),
        (
            vec!["pool", "drain", "+33780000001", "--undo=yes"],
            "--undo",
        ),
    ] {
        let out = run(&url, &args, &[]).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{args:?}: {}", stderr(&out));
    }
}

#[tokio::test]
async fn with_twilio_credentials_the_commands_use_twilio_and_finish_after_a_failure_mid_way() {
    let (base, double) = Deletions::start(vec![204, 500]).await;
    let db = TestDb::new().await;
    let store = store::connect(db.url()).await.unwrap();
    let mut numbers = Vec::new();
    for i in 1..=3 {
        let number = format!("+3378000080{i}");
        add_pool_number(store.as_ref(), &number, Some(sid(i)), true).await;
        numbers.push(number);
    }
    let env = [
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", "test-auth-token"),
        ("TWILIO_API_BASE", base.as_str()),
        ("PUBLIC_BASE_URL", "https://proxycall.example.com"),
    ];
    let mut args = vec!["pool", "release", "--json"];
    args.extend(numbers.iter().map(String::as_str));
    let out = run(db.url(), &args, &env).await;
    let err = stderr(&out);
    let released = report(&out);
    assert_eq!(
        released["released"],
        serde_json::json!(numbers),
        "{released}"
    );
    // Twilio answered 500 on the second: the command said so, waited for the next try, and
    // that try finished the rest.
    assert!(err.contains("try 1 of 5 failed"), "{err}");
    let seen = double.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.iter().all(|f| f.starts_with("PN")), "{seen:?}");
}

#[tokio::test]
async fn a_command_follows_the_operation_already_under_way_instead_of_starting_another() {
    let db = TestDb::new().await;
    let app = App::simulated(store::connect(db.url()).await.unwrap());
    crate::helpers::add_numbers(&app, "FR", NumberType::Mobile, 2).await;
    // Started elsewhere (a route, another terminal), not run yet.
    let (id, already) = proxycall::app::operations::start(
        &app,
        &PurgeWithoutSmsJob {
            force: false,
            requested_by: None,
        },
    )
    .await
    .unwrap();
    assert!(!already);
    let out = run(db.url(), &["pool", "purge-sans-sms", "--json"], &[]).await;
    let err = stderr(&out);
    assert!(
        err.contains(&format!("already under way (job {id})")),
        "{err}"
    );
    assert_eq!(report(&out)["kept_sms_capable"], 2);
    let jobs = app
        .store
        .jobs(Some("pool.purge_without_sms"), None, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "one job, run once");
}

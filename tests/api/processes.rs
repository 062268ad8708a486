//! The real binary: two `proxycall serve` processes on one database, and start-up checks.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proxycall::app::{App, keys};
use proxycall::domain::{NumberType, Scopes};
use proxycall::store;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::helpers::{TestDb, add_numbers, order};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_proxycall");

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn server(db: &TestDb, port: u16) -> Server {
    server_with(db, port, &[])
}

/// A `serve` process as `server` starts it, with more settings (or other values).
pub(crate) fn server_with(db: &TestDb, port: u16, env: &[(&str, &str)]) -> Server {
    Server::spawn(
        Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("PROXYCALL_DATABASE_URL", db.url())
            .env("PROXYCALL_LISTEN", format!("127.0.0.1:{port}"))
            .env("PROXYCALL_CARRIER", "simulated")
            .env("PROXYCALL_RATE_LIMIT_PER_MINUTE", "100000")
            .env("PROXYCALL_LOG_JSON", "true")
            .env("LOG_LEVEL", "debug")
            .envs(env.iter().copied()),
    )
}

/// A running `serve` process whose output is read as it comes, from the start. Read only at
/// the end, a full pipe (64 KiB of debug lines) blocks the thread that logs the next line —
/// once seen while it held a transaction, which stalled the other process on its locks.
pub(crate) struct Server {
    child: Child,
    logs: Arc<Mutex<String>>,
    drains: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub(crate) fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let pipes: [Box<dyn tokio::io::AsyncRead + Unpin + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        let drains = pipes
            .into_iter()
            .map(|mut pipe| {
                let logs = logs.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = pipe.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        logs.lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                })
            })
            .collect();
        Self {
            child,
            logs,
            drains,
        }
    }

    /// What it has written so far, as it grows.
    pub(crate) fn output(&self) -> Arc<Mutex<String>> {
        self.logs.clone()
    }
}

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

pub(crate) async fn wait_until_up(http: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/health")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} did not start");
}

/// Stops a server with SIGTERM, as a platform does, and checks it stopped gracefully.
async fn terminate(child: &mut Child) {
    let pid = child.id().unwrap();
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "graceful stop exits 0, got {status}");
}

/// Stops the server gracefully and returns everything it logged.
pub(crate) async fn stop(mut server: Server) -> String {
    terminate(&mut server.child).await;
    for drain in std::mem::take(&mut server.drains) {
        let _ = drain.await;
    }
    server.logs.lock().unwrap().clone()
}

#[tokio::test]
async fn two_processes_on_one_database_never_give_a_number_twice() {
    let db = TestDb::new().await;
    let app = App::simulated(store::connect(db.url()).await.unwrap());
    let numbers: HashSet<String> = add_numbers(&app, "FR", NumberType::Mobile, 24)
        .await
        .into_iter()
        .collect();
    let key = keys::create(&app, "load", Scopes::admin(), None)
        .await
        .unwrap()
        .secret;

    let ports = [free_port(), free_port()];
    let children: Vec<Server> = ports.iter().map(|p| server(&db, *p)).collect();
    let http = reqwest::Client::new();
    let bases: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    for base in &bases {
        wait_until_up(&http, base).await;
    }

    // 36 new clients at once, split over both processes, for 24 numbers.
    let mut tasks = tokio::task::JoinSet::new();
    for client_id in 1..=36i64 {
        let (http, key) = (http.clone(), key.clone());
        let base = bases[client_id as usize % 2].clone();
        tasks.spawn(async move {
            let phone = format!("+336{:08}", 10_000_000 + client_id);
            let body = order(&format!("CMD-{client_id}"), client_id, &phone);
            let r = http
                .post(format!("{base}/orders"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                client_id,
                r.status().as_u16(),
                r.json::<Value>().await.unwrap(),
            )
        });
    }
    let mut proxies = Vec::new();
    let mut exhausted = 0;
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            (_, 200, body) => {
                proxies.push(body["client_proxy_number"].as_str().unwrap().to_owned())
            }
            (_, 409, body) => {
                assert_eq!(body["code"], "pool_exhausted", "{body}");
                exhausted += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    let distinct: HashSet<String> = proxies.iter().cloned().collect();
    assert_eq!(proxies.len(), 24, "every number handed out once");
    assert_eq!(distinct, numbers, "no number twice, none invented");
    assert_eq!(exhausted, 12);

    // The pool and the clients agree on every owner.
    for proxy in &distinct {
        let e164 = proxycall::domain::E164::parse(proxy).unwrap();
        let client = app.store.client_by_proxy(&e164).await.unwrap().unwrap();
        let row = app.store.pool_number(&e164).await.unwrap().unwrap();
        assert_eq!(row.owner_client_id, Some(client.id));
    }

    // A courier texts one of the proxies, signed with the token the servers keep.
    let token = app
        .store
        .secret(proxycall::server::SIMULATED_TOKEN, "unused")
        .await
        .unwrap();
    let proxy = proxies[0].clone();
    let params = proxycall::simulate::sms_params(
        "+33698765432",
        &proxy,
        "Digicode 4821B, 3e étage",
        "SMlog",
    );
    let (status, _) = proxycall::simulate::post_webhook(
        &http,
        &bases[0],
        "/twilio/sms",
        token.as_bytes(),
        &params,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    for _ in 0..100 {
        if app.store.outbox_stats().await.unwrap().sent == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut logs = String::new();
    for child in children {
        logs.push_str(&stop(child).await);
    }
    assert!(logs.contains("message sent"), "the relay went out: {logs}");
    assert!(
        !logs.contains("Digicode") && !logs.contains("4821B"),
        "an SMS body leaked"
    );
    // The logs name the events, with a request id, and never a real number, an e-mail or a key.
    assert!(logs.contains("order recorded"), "{logs}");
    assert!(logs.contains("request_id"), "{logs}");
    assert!(
        !logs.contains("+3361"),
        "a real phone number leaked:\n{logs}"
    );
    assert!(!logs.contains("@example.com\""), "an e-mail leaked");
    assert!(!logs.contains(&key), "the key leaked");
    assert!(logs.contains("+33*****"), "numbers appear masked");
}

#[tokio::test]
async fn the_server_refuses_to_start_without_a_way_to_authenticate() {
    let db = TestDb::new().await;
    let out = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("PROXYCALL_DATABASE_URL", db.url())
        .env("PROXYCALL_LISTEN", "127.0.0.1:0")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PROXYCALL_API_TOKEN"), "{stderr}");
}

#[tokio::test]
async fn bad_configuration_stops_the_start_with_every_problem_listed() {
    let out = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .env("PROXYCALL_CARRIER", "twilio")
        .env("TWILIO_ACCOUNT_SID", "AC123")
        .env("PROXYCALL_RATE_LIMIT_PER_MINUTE", "0")
        .env("PORT", "eighty")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "PUBLIC_BASE_URL",
        "PROXYCALL_RATE_LIMIT_PER_MINUTE",
        "PORT",
    ] {
        assert!(stderr.contains(name), "{name} not reported:\n{stderr}");
    }
}

#[tokio::test]
async fn keys_and_pool_commands_work_from_the_command_line() {
    let db = TestDb::new().await;
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PROXYCALL_DATABASE_URL", db.url());
        cmd.output().unwrap()
    };
    let created = run(&[
        "keys",
        "create",
        "--name",
        "shop",
        "--scopes",
        "orders,read",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("pck_"));
    let id = key.split('_').nth(1).unwrap().to_owned();
    let listed = String::from_utf8(run(&["keys", "list"]).stdout).unwrap();
    assert!(listed.contains(&id) && listed.contains("orders,read") && !listed.contains(&key));
    assert!(run(&["keys", "revoke", &id]).status.success());
    assert!(
        String::from_utf8(run(&["keys", "list"]).stdout)
            .unwrap()
            .contains("revoked")
    );
    assert_eq!(
        run(&["keys", "create", "--name", "x", "--scopes", "root"])
            .status
            .code(),
        Some(2)
    );

    let added = run(&[
        "pool",
        "add",
        "+33780000001",
        "+33780000002",
        "--type",
        "mobile",
    ]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let bad = run(&["pool", "add", "+33780000003", "+33 7 80"]);
    assert_eq!(bad.status.code(), Some(2), "a bad number adds nothing");
    let listed = String::from_utf8(run(&["pool", "list", "--country", "FR"]).stdout).unwrap();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.contains("+33780000001") && listed.contains("available"));
}

#[tokio::test]
async fn two_processes_send_each_queued_message_exactly_once() {
    let db = TestDb::new().await;
    let app = App::simulated(store::connect(db.url()).await.unwrap());
    // The servers refuse to start without a way to authenticate.
    keys::create(&app, "ops", Scopes::admin(), None)
        .await
        .unwrap();
    let proxy = proxycall::domain::E164::parse("+33780000001").unwrap();
    for i in 0..60 {
        let message = proxycall::store::NewOutbound {
            kind: proxycall::store::OutboundKind::Sms,
            purpose: "relay",
            from: proxy.clone(),
            to: proxycall::domain::E164::parse(&format!("+336{:08}", 20_000_000 + i)).unwrap(),
            body: Some(format!("message {i}")),
            url: None,
            dedupe_key: Some(format!("test:{i}")),
            relay: None,
        };
        assert!(
            app.store
                .enqueue(&message, chrono::Utc::now())
                .await
                .unwrap()
                .is_some()
        );
    }

    let ports = [free_port(), free_port()];
    let children: Vec<Server> = ports.iter().map(|p| server(&db, *p)).collect();
    let http = reqwest::Client::new();
    for p in ports {
        wait_until_up(&http, &format!("http://127.0.0.1:{p}")).await;
    }
    let mut stats = app.store.outbox_stats().await.unwrap();
    for _ in 0..200 {
        if stats.sent == 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        stats = app.store.outbox_stats().await.unwrap();
    }
    for child in children {
        stop(child).await;
    }
    assert_eq!(
        (stats.sent, stats.pending, stats.failed),
        (60, 0, 0),
        "{stats:?}"
    );
    let deliveries = app.store.simulated_deliveries(None, 1000).await.unwrap();
    assert_eq!(
        deliveries.len(),
        60,
        "each message delivered once, by one process"
    );
    let recipients: HashSet<String> = deliveries.iter().map(|d| d.to.to_string()).collect();
    assert_eq!(recipients.len(), 60);
}

#[tokio::test]
async fn the_demo_shows_the_main_job_and_simulate_plays_twilio_against_it() {
    let db = TestDb::new().await;
    let port = free_port();
    let env = |cmd: &mut Command| {
        cmd.env_clear()
            .env("PROXYCALL_DATABASE_URL", db.url())
            .env("PROXYCALL_LISTEN", format!("127.0.0.1:{port}"));
    };
    let mut demo = Command::new(BIN);
    demo.arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    env(&mut demo);
    let mut demo = demo.spawn().unwrap();

    // The demo prints its story, then serves until stopped.
    let mut out = tokio::io::BufReader::new(demo.stdout.take().unwrap());
    let mut story = String::new();
    let read = async {
        use tokio::io::AsyncBufReadExt;
        let mut line = String::new();
        while out.read_line(&mut line).await.unwrap() > 0 {
            story.push_str(&line);
            if line.contains("Ctrl-C stops the server") {
                break;
            }
            line.clear();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the demo tells its story");
    assert!(
        story.contains(r#"<Dial callerId="+33780000001" action="#)
            && story.contains(r#"<Number>+33612345678</Number></Dial>"#),
        "{story}"
    );
    assert!(
        story.contains(r#"+33780000001 -> +33612345678: "Bonjour, je suis devant chez vous""#),
        "{story}"
    );
    assert!(
        story.contains(r#"+33780000001 -> +33698765432: "J'arrive !""#),
        "{story}"
    );
    // Choosing a contact, and a missed call.
    assert!(
        story.contains("#1 +33*****4321, SMS à "),
        "the list: {story}"
    );
    assert!(story.contains("#2 +33*****5432, SMS à "), "{story}");
    assert!(
        story.contains(r#"+33780000001 -> +33698765432: "Je descends dans une minute""#),
        "#2 reaches the courier: {story}"
    );
    assert!(
        story.contains("/twilio/voice/menu"),
        "the call menu: {story}"
    );
    assert!(
        story.contains(r#"-> +33612345678: "ProxyCall : appel manqué de +33*****4321"#),
        "the missed-call text: {story}"
    );
    assert_eq!(
        story
            .matches(r#""client_proxy_number":"+33780000001""#)
            .count(),
        2,
        "same order, same proxy"
    );

    assert!(
        story.contains(r#"GET /confirmations/status -> "PROMOTED""#),
        "the demo activates a new client: {story}"
    );

    // `simulate` signs as Twilio does: the running demo accepts it and relays the text.
    let simulate = |args: &[&str]| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.arg("simulate")
            .args(args)
            .env_clear()
            .env("PROXYCALL_DATABASE_URL", db.url())
            .env("PROXYCALL_LISTEN", format!("127.0.0.1:{port}"));
        cmd.output().unwrap()
    };
    let call = simulate(&["call", "--from", "+33611223344", "--to", "+33780000001"]);
    assert!(
        call.status.success(),
        "{}",
        String::from_utf8_lossy(&call.stderr)
    );
    assert!(String::from_utf8_lossy(&call.stdout).contains("<Number>+33612345678</Number>"));
    let sms = simulate(&[
        "sms",
        "--from",
        "+33611223344",
        "--to",
        "+33780000001",
        "--body",
        "Colis livré",
    ]);
    assert!(sms.status.success());
    let mut inbox = String::new();
    for _ in 0..50 {
        inbox = String::from_utf8_lossy(&simulate(&["inbox", "--to", "+33612345678"]).stdout)
            .into_owned();
        if inbox.contains("Colis livré") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        inbox.contains("+33780000001 -> +33612345678  Colis livré"),
        "{inbox}"
    );
    let us = simulate(&["call", "--from", "+14155552345", "--to", "+33780000001"]);
    assert!(String::from_utf8_lossy(&us.stdout).contains("pas accessible depuis votre pays"));
    terminate(&mut demo).await;
}

/// A text to `to`, from a pool number.
fn text_to(to: &str, key: &str) -> proxycall::store::NewOutbound {
    proxycall::store::NewOutbound {
        kind: proxycall::store::OutboundKind::Sms,
        purpose: "test",
        from: proxycall::domain::E164::parse("+33780000001").unwrap(),
        to: proxycall::domain::E164::parse(to).unwrap(),
        body: Some("Votre code".into()),
        url: None,
        dedupe_key: Some(key.into()),
        relay: None,
    }
}

/// Waits (bounded) until the store says message `id` is sent, and returns its job.
async fn sent_job(app: &App, key: &str) -> proxycall::store::Job {
    for _ in 0..300 {
        let done = app
            .store
            .jobs(Some(proxycall::store::SEND_JOB_KIND), None, 100)
            .await
            .unwrap()
            .into_iter()
            .find(|j| {
                j.dedupe_key.as_deref() == Some(key)
                    && j.status == proxycall::store::JobStatus::Done
            });
        if let Some(job) = done {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the job {key} never ran");
}

#[tokio::test]
async fn scheduled_and_periodic_jobs_run_once_across_two_processes_and_survive_a_restart() {
    use chrono::Utc;

    let db = TestDb::new().await;
    let app = App::simulated(store::connect(db.url()).await.unwrap());
    keys::create(&app, "ops", Scopes::admin(), None)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    // Hourly periods this test spans so far: one, or two if an hour begins meanwhile.
    let began = Utc::now();
    let hours_spanned = || {
        let hour = Duration::from_secs(3600);
        let period = proxycall::jobs::schedule::period_start;
        1 + ((period(hour, Utc::now()) - period(hour, began)).num_hours() as usize)
    };
    let start = |ports: &[u16]| -> Vec<Server> { ports.iter().map(|p| server(&db, *p)).collect() };

    // A text scheduled 2 s ahead, with two processes running.
    let first_at = Utc::now() + chrono::Duration::seconds(2);
    let first = app
        .store
        .enqueue_at(
            &text_to("+33611000001", "scheduled:1"),
            first_at,
            Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
    let ports = [free_port(), free_port()];
    let mut children = start(&ports);
    for p in ports {
        wait_until_up(&http, &format!("http://127.0.0.1:{p}")).await;
    }
    let job = sent_job(&app, &format!("outbound:{first}")).await;
    assert_eq!(job.attempts, 1, "claimed once");
    assert!(job.finished_at.unwrap() >= first_at, "not before its time");
    let to = proxycall::domain::E164::parse("+33611000001").unwrap();
    let delivered = app.store.simulated_deliveries(Some(&to), 10).await.unwrap();
    assert_eq!(delivered.len(), 1, "sent by one process, once");
    assert!(delivered[0].delivered_at >= first_at);

    // Each periodic job has one job per period, whichever process enqueued it.
    let purges = app
        .store
        .jobs(Some("interactions.purge"), None, 10)
        .await
        .unwrap();
    assert_eq!(purges.len(), hours_spanned(), "{purges:#?}");

    // A text scheduled before a restart is sent after it: both processes stop before its
    // time, one comes back.
    let second_at = Utc::now() + chrono::Duration::seconds(5);
    let second = app
        .store
        .enqueue_at(
            &text_to("+33611000002", "scheduled:2"),
            second_at,
            Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
    for child in children.iter_mut() {
        terminate(child).await;
    }
    assert!(Utc::now() < second_at, "stopped before its time");
    let port = free_port();
    children = start(&[port]);
    wait_until_up(&http, &format!("http://127.0.0.1:{port}")).await;
    let job = sent_job(&app, &format!("outbound:{second}")).await;
    assert_eq!(job.attempts, 1);
    assert!(job.finished_at.unwrap() >= second_at);
    let to = proxycall::domain::E164::parse("+33611000002").unwrap();
    assert_eq!(
        app.store
            .simulated_deliveries(Some(&to), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // The restarted process found this period's periodic jobs and added none.
    assert_eq!(
        app.store
            .jobs(Some("interactions.purge"), None, 10)
            .await
            .unwrap()
            .len(),
        hours_spanned()
    );
    for child in children {
        stop(child).await;
    }
}

#[tokio::test]
async fn outbox_requeue_puts_failed_messages_back_and_refuses_sent_or_in_doubt_ones() {
    let db = TestDb::new().await;
    let app = App::simulated(store::connect(db.url()).await.unwrap());
    let mut ids = Vec::new();
    for (i, key) in ["failed", "sent", "doubt", "queued", "failed-too"]
        .iter()
        .enumerate()
    {
        let to = format!("+3361100001{i}");
        ids.push(
            app.store
                .enqueue(&text_to(&to, key), chrono::Utc::now())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let set = |status: &str, key: &str| {
        format!("update outbound_messages set status = '{status}' where dedupe_key = '{key}'")
    };
    for sql in [
        set("failed", "failed"),
        set("failed", "failed-too"),
        set("sent", "sent"),
        set("sending", "doubt"),
        format!(
            "update jobs set status = 'failed', finished_at = updated_at \
             where dedupe_key in ('outbound:{}', 'outbound:{}', 'outbound:{}')",
            ids[0], ids[1], ids[4]
        ),
    ] {
        db.exec(&sql).await;
    }
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.arg("outbox")
            .args(args)
            .env_clear()
            .env("PROXYCALL_DATABASE_URL", db.url());
        cmd.output().unwrap()
    };
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let one = run(&["requeue", "--id", &ids[0].to_string()]);
    assert!(one.status.success(), "{}", text(&one));
    assert!(
        text(&one).contains(&format!("requeued {}", ids[0])),
        "{}",
        text(&one)
    );
    for (id, why) in [
        (ids[1], "sent already"),
        (ids[2], "in doubt"),
        (ids[3], "queued already"),
        (ids[0], "queued already"),
    ] {
        let refused = run(&["requeue", "--id", &id.to_string()]);
        assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
        assert!(text(&refused).contains(why), "{id}: {}", text(&refused));
    }
    let bad = run(&["requeue", "--failed-since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    let since = run(&["requeue", "--failed-since", "2h"]);
    assert!(since.status.success(), "{}", text(&since));
    assert!(
        text(&since).contains("1 message(s) requeued"),
        "{}",
        text(&since)
    );

    // Each requeued message is pending with a queued job of its own; the others are untouched.
    let messages = app.store.outbound_messages(10).await.unwrap();
    let status = |id: i64| {
        messages
            .iter()
            .find(|m| m.id == id)
            .unwrap()
            .status
            .to_string()
    };
    assert_eq!(
        ids.iter().map(|&id| status(id)).collect::<Vec<_>>(),
        ["pending", "sent", "sending", "pending", "pending"]
    );
    for id in [ids[0], ids[4]] {
        let jobs = app
            .store
            .jobs(Some(proxycall::store::SEND_JOB_KIND), None, 20)
            .await
            .unwrap();
        let key = format!("outbound:{id}");
        let live: Vec<_> = jobs
            .iter()
            .filter(|j| j.dedupe_key.as_deref() == Some(key.as_str()))
            .collect();
        assert_eq!(live.len(), 1, "{jobs:#?}");
        assert_eq!(live[0].status, proxycall::store::JobStatus::Queued);
    }
}

/// A `serve` process sending through the Twilio double at `base`, settling after 1 s.
fn twilio_server(db: &TestDb, port: u16, base: &str) -> Server {
    Server::spawn(
        Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("PROXYCALL_DATABASE_URL", db.url())
            .env("PROXYCALL_LISTEN", format!("127.0.0.1:{port}"))
            .env("PROXYCALL_CARRIER", "twilio")
            .env("TWILIO_ACCOUNT_SID", crate::helpers::ACCOUNT_SID)
            .env("TWILIO_AUTH_TOKEN", "test-auth-token")
            .env("TWILIO_API_BASE", base)
            .env("PUBLIC_BASE_URL", format!("http://127.0.0.1:{port}"))
            .env("PROXYCALL_OUTBOX_SETTLE_GRACE_SECS", "1")
            .env("LOG_LEVEL", "info"),
    )
}

#[tokio::test]
async fn a_serve_process_killed_mid_send_loses_no_message_and_another_sends_each_once() {
    let db = TestDb::new().await;
    let app = App::simulated(store::connect(db.url()).await.unwrap());
    keys::create(&app, "ops", Scopes::admin(), None)
        .await
        .unwrap();
    // The first process finds Twilio hanging: one text it takes and never answers for, the
    // others it never takes.
    let sim = crate::twilio_sim::TwilioSim::start().await;
    use crate::twilio_sim::Fault;
    sim.faults([
        Fault::AcceptThenHang,
        Fault::HangWithoutAccepting,
        Fault::HangWithoutAccepting,
    ]);
    for i in 0..3 {
        app.store
            .enqueue(
                &text_to(&format!("+3361200000{i}"), &format!("kill:{i}")),
                chrono::Utc::now(),
            )
            .await
            .unwrap()
            .unwrap();
    }
    let http = reqwest::Client::new();
    let port = free_port();
    let mut first = twilio_server(&db, port, &sim.base);
    wait_until_up(&http, &format!("http://127.0.0.1:{port}")).await;
    for _ in 0..200 {
        if sim.posts() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sim.posts(),
        3,
        "the first process claimed and began every send"
    );

    // Killed mid-send: no graceful stop, no outcome recorded.
    first.kill().await.unwrap();
    let stats = app.store.outbox_stats().await.unwrap();
    assert_eq!(stats.sending, 3, "{stats:?}");

    // Another process takes over once the leases run out.
    let port = free_port();
    let second = twilio_server(&db, port, &sim.base);
    wait_until_up(&http, &format!("http://127.0.0.1:{port}")).await;
    // Leases last a minute and are checked every 30 s: allow three minutes on a busy machine.
    let mut stats = app.store.outbox_stats().await.unwrap();
    for _ in 0..360 {
        if stats.sent == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        stats = app.store.outbox_stats().await.unwrap();
    }
    let logs = stop(second).await;

    assert_eq!((stats.sent, stats.failed), (3, 0), "{stats:?}\n{logs}");
    let texts = sim.texts();
    assert_eq!(texts.len(), 3, "each taken by Twilio once: {texts:#?}");
    let recipients: HashSet<String> = texts.iter().map(|t| t.to.clone()).collect();
    assert_eq!(recipients.len(), 3);
    assert_eq!(
        sim.posts(),
        5,
        "the two never taken were posted again, the other not"
    );
}

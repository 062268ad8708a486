//! E-mail through SMTP, against a real SMTP server on loopback that each test starts
//! (`tests/common/smtp_server.rs`): an e-mail is delivered once, as written; a passing refusal
//! or the server being down is retried, then delivered once; a permanent refusal fails at once;
//! an interrupted send is sent again; the dedupe key; bodies erased; the retention purge; TLS
//! never skipped; and nothing personal in a real process's logs.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use mail_parser::MessageParser;
use proxycall::app::{App, keys};
use proxycall::config::{SmtpSettings, SmtpTls};
use proxycall::domain::{Email, Scopes};
use proxycall::mail::{MailError, Mailer, Outgoing, SmtpMailer};
use proxycall::store::{
    self, EMAIL_SEND_JOB_KIND, EmailStatus, JobStatus, NewEmail, OutboundEmail, Store,
};
use secrecy::SecretString;

use crate::helpers::{
    Options, SMTP_FROM, SMTP_PASSWORD, SMTP_USER, TestApp, TestDb, spawn_app_with,
};
use crate::processes::{free_port, server_with, stop, wait_until_up};
use crate::smtp_server::{Received, SmtpServer, Stage};

const TO: &str = "jeanne.martin@example.com";
const SUBJECT: &str = "Confirmez votre numéro — ProxyCall";
const TEXT: &str = "Bonjour Jeanne,\n\nConfirmez votre numéro ici : \
    https://proxycall.example.com/confirmations/verify?token=tok-0123456789abcdef\n\nÀ bientôt.";
const HTML: &str = "<p>Bonjour Jeanne,</p><p><a href=\"https://proxycall.example.com/\
    confirmations/verify?token=tok-0123456789abcdef\">Confirmez votre numéro</a></p>";
/// Plain ASCII, so that it travels as 7-bit lines: its lines that begin with a dot are
/// doubled by the client and undone by the server.
const DOTTED: &str = "Line one\n.\n.hidden line\n..two dots\nlast line";

fn email(key: Option<&str>) -> NewEmail {
    NewEmail {
        purpose: "activation_link",
        to: Email::parse(TO).unwrap(),
        subject: SUBJECT.into(),
        text: TEXT.into(),
        html: Some(HTML.into()),
        dedupe_key: key.map(Into::into),
    }
}

/// A server whose e-mails go to `smtp`; with `workers: false` the test runs the jobs itself.
async fn app(smtp: &SmtpServer, workers: bool) -> TestApp {
    spawn_app_with(Options {
        smtp: Some(smtp.address()),
        job_workers: (!workers).then_some(0),
        ..Default::default()
    })
    .await
}

/// Plays the workers: runs, as if it were `at`, every job due then (the periodic ones the
/// server enqueued at start among them).
struct Jobs(proxycall::jobs::Worker);

impl Jobs {
    async fn run_at(&self, at: DateTime<Utc>) {
        while self.0.run_once_at(at).await.unwrap() > 0 {}
    }
}

fn worker(app: &TestApp) -> Jobs {
    Jobs(proxycall::jobs::Worker::new(
        app.app.clone(),
        app.jobs.clone(),
    ))
}

async fn stored(store: &std::sync::Arc<dyn Store>, id: i64) -> OutboundEmail {
    store.email(id).await.unwrap().expect("the e-mail is kept")
}

async fn send_job(store: &std::sync::Arc<dyn Store>) -> proxycall::store::Job {
    let jobs = store
        .jobs(Some(EMAIL_SEND_JOB_KIND), None, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs[0].clone()
}

/// Line endings as written: SMTP carries CRLF.
fn lf(s: &str) -> String {
    s.replace("\r\n", "\n").trim_end_matches('\n').to_owned()
}

#[tokio::test]
async fn an_email_is_delivered_once_with_its_sender_addressee_subject_and_both_parts() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp, true).await;
    let store = &app.app.store;
    let now = Utc::now();
    let id = store
        .enqueue_email(&email(Some("activation:1:link")), now, now)
        .await
        .unwrap()
        .expect("enqueued");

    app.drain().await;
    let received = smtp.received();
    assert_eq!(received.len(), 1, "delivered once");
    let m = &received[0];
    assert_eq!(m.mail_from, SMTP_FROM);
    assert_eq!(m.rcpt_to, [TO]);
    assert_eq!(
        m.auth,
        Some((SMTP_USER.to_owned(), SMTP_PASSWORD.to_owned())),
        "authenticated with the settings' credentials"
    );
    let parsed = MessageParser::default().parse(&m.data).expect("a message");
    let first = |a: Option<&mail_parser::Address>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_owned)
    };
    assert_eq!(first(parsed.from()).as_deref(), Some(SMTP_FROM));
    assert_eq!(first(parsed.to()).as_deref(), Some(TO));
    assert_eq!(parsed.subject(), Some(SUBJECT));
    assert_eq!(lf(&parsed.body_text(0).unwrap()), TEXT);
    assert!(parsed.html_part(0).unwrap().is_text_html(), "an HTML part");
    assert_eq!(lf(&parsed.body_html(0).unwrap()), HTML);
    let message_id = parsed.message_id().unwrap();
    assert!(
        message_id.contains(&format!("proxycall.{id}."))
            && message_id.ends_with("@proxycall.example.com"),
        "{message_id}"
    );
    // The words did not travel as they are: lettre encodes them, the parser decoded them.
    let raw = String::from_utf8_lossy(&m.data);
    assert!(!raw.contains("numéro"), "non-ASCII is encoded: {raw}");

    let e = stored(store, id).await;
    assert_eq!(e.status, EmailStatus::Sent, "{e:?}");
    assert!(
        e.text.is_none() && e.html.is_none(),
        "the bodies are erased"
    );
    assert_eq!(e.subject, SUBJECT, "the subject stays, for the record");
    assert!(e.sent_at.is_some() && e.last_error.is_none(), "{e:?}");
    assert_eq!(e.attempts, 1);
    assert_eq!(send_job(store).await.status, JobStatus::Done);

    app.drain().await;
    assert_eq!(smtp.received().len(), 1, "never sent twice");
}

#[tokio::test]
async fn a_text_only_email_has_no_html_part_and_its_lines_that_begin_with_a_dot_arrive_whole() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp, true).await;
    let now = Utc::now();
    let mut plain = email(None);
    plain.subject = "Plain".into();
    plain.text = DOTTED.into();
    plain.html = None;
    app.app
        .store
        .enqueue_email(&plain, now, now)
        .await
        .unwrap()
        .unwrap();
    app.drain().await;

    let received = smtp.received();
    assert_eq!(received.len(), 1);
    let parsed = MessageParser::default().parse(&received[0].data).unwrap();
    assert_eq!(lf(&parsed.body_text(0).unwrap()), DOTTED);
    assert!(
        !parsed.html_part(0).is_some_and(|p| p.is_text_html()),
        "no HTML part"
    );
    let raw = String::from_utf8_lossy(&received[0].data);
    assert!(!raw.to_ascii_lowercase().contains("text/html"), "{raw}");
}

#[tokio::test]
async fn a_passing_refusal_is_retried_after_the_back_off_then_delivered_once() {
    for (code, stage) in [
        (451, Stage::Data),
        (421, Stage::Greeting),
        (450, Stage::Rcpt),
    ] {
        let smtp = SmtpServer::start().await;
        smtp.fail_next(1, code, stage);
        let app = app(&smtp, false).await;
        let store = &app.app.store;
        let now = Utc::now();
        let id = store
            .enqueue_email(&email(None), now, now)
            .await
            .unwrap()
            .unwrap();
        let worker = worker(&app);

        worker.run_at(now).await;
        assert_eq!(smtp.refused(), [(code, stage)]);
        assert!(smtp.received().is_empty());
        let e = stored(store, id).await;
        assert_eq!(e.status, EmailStatus::Pending, "{code}: {e:?}");
        let error = e.last_error.clone().unwrap();
        assert!(error.contains(&code.to_string()), "{error}");
        assert!(
            !error.contains("jeanne"),
            "no address in the error: {error}"
        );
        assert!(e.text.is_some(), "kept for the next try");
        let job = send_job(store).await;
        assert_eq!(job.status, JobStatus::Queued);
        assert!(job.due_at > now, "after the back-off: {job:?}");

        worker.run_at(now).await;
        assert_eq!(smtp.refused().len(), 1, "not before its time");
        assert_eq!(send_job(store).await.status, JobStatus::Queued);
        worker.run_at(now + Duration::minutes(10)).await;
        assert_eq!(smtp.received().len(), 1, "{code}: delivered once");
        let e = stored(store, id).await;
        assert_eq!(e.status, EmailStatus::Sent);
        assert_eq!(e.attempts, 2);
        assert!(e.text.is_none());
        assert_eq!(send_job(store).await.status, JobStatus::Done);
    }
}

#[tokio::test]
async fn a_permanent_refusal_fails_at_once_and_is_never_tried_again() {
    for (code, stage) in [(550, Stage::Rcpt), (554, Stage::Data)] {
        let smtp = SmtpServer::start().await;
        smtp.fail_next(1, code, stage);
        let app = app(&smtp, false).await;
        let store = &app.app.store;
        let now = Utc::now();
        let id = store
            .enqueue_email(&email(None), now, now)
            .await
            .unwrap()
            .unwrap();
        let worker = worker(&app);

        worker.run_at(now).await;
        let e = stored(store, id).await;
        assert_eq!(e.status, EmailStatus::Failed, "{code}: {e:?}");
        assert!(e.text.is_none() && e.html.is_none(), "bodies erased");
        let error = e.last_error.unwrap();
        assert!(error.contains(&code.to_string()), "{error}");
        // The server's answer named the address: it is not kept.
        assert!(!error.contains("jeanne"), "{error}");
        let job = send_job(store).await;
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.attempts, 1);

        let connections = smtp.connections();
        worker.run_at(now + Duration::days(1)).await;
        assert_eq!(smtp.connections(), connections, "no second try");
        assert!(smtp.received().is_empty());
    }
}

#[tokio::test]
async fn with_the_server_down_the_email_waits_and_goes_once_it_is_up() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp, false).await;
    let store = &app.app.store;
    let worker = worker(&app);
    let now = Utc::now();
    let id = store
        .enqueue_email(&email(None), now, now)
        .await
        .unwrap()
        .unwrap();

    smtp.down().await;
    worker.run_at(now).await;
    worker.run_at(now + Duration::minutes(10)).await;
    let e = stored(store, id).await;
    assert_eq!(e.status, EmailStatus::Pending, "{e:?}");
    assert!(e.last_error.is_some());
    assert_eq!(smtp.connections(), 0);

    smtp.up().await;
    worker.run_at(now + Duration::hours(1)).await;
    assert_eq!(smtp.received().len(), 1, "delivered once");
    let e = stored(store, id).await;
    assert_eq!(e.status, EmailStatus::Sent);
    assert_eq!(e.attempts, 3);
}

#[tokio::test]
async fn a_passing_failure_past_the_retry_horizon_fails_and_erases_the_bodies() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp, false).await;
    let store = &app.app.store;
    let worker = worker(&app);
    let now = Utc::now();
    let id = store
        .enqueue_email(&email(None), now, now)
        .await
        .unwrap()
        .unwrap();
    smtp.down().await;
    worker.run_at(now).await;
    // The default horizon: 24 hours from the e-mail's creation.
    worker.run_at(now + Duration::hours(25)).await;
    let e = stored(store, id).await;
    assert_eq!(e.status, EmailStatus::Failed, "{e:?}");
    assert!(
        e.last_error
            .as_deref()
            .unwrap()
            .contains("not sent within 24 h"),
        "{e:?}"
    );
    assert!(e.text.is_none() && e.html.is_none());
    assert_eq!(send_job(store).await.status, JobStatus::Failed);
}

#[tokio::test]
async fn an_email_whose_worker_died_mid_send_is_sent_again() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp, false).await;
    let store = &app.app.store;
    let now = Utc::now();
    let id = store
        .enqueue_email(&email(None), now, now)
        .await
        .unwrap()
        .unwrap();
    // A worker claims the job, marks the e-mail `sending`, and dies before the server answers.
    let lease = now + Duration::seconds(60);
    let claimed = store
        .claim_jobs(&[EMAIL_SEND_JOB_KIND], now, lease, 1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let e = store.email_begin_send(id, 1, now).await.unwrap().unwrap();
    assert_eq!(e.status, EmailStatus::Sending);

    let worker = worker(&app);
    let later = now + Duration::seconds(61);
    worker.0.check_leases(later).await.unwrap();
    worker.run_at(later).await;
    assert_eq!(smtp.received().len(), 1, "sent by the next try");
    let e = stored(store, id).await;
    assert_eq!(e.status, EmailStatus::Sent);
    assert_eq!(e.attempts, 2);
}

#[tokio::test]
async fn the_dedupe_key_enqueues_an_email_once() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp, true).await;
    let store = &app.app.store;
    let now = Utc::now();
    let keyed = email(Some("activation:42:link"));
    assert!(
        store
            .enqueue_email(&keyed, now, now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .enqueue_email(&keyed, now, now)
            .await
            .unwrap()
            .is_none(),
        "the same key enqueues once"
    );
    // Without a key, each is its own e-mail.
    for _ in 0..2 {
        assert!(
            store
                .enqueue_email(&email(None), now, now)
                .await
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(store.emails(10).await.unwrap().len(), 3);
    assert_eq!(
        store
            .jobs(Some(EMAIL_SEND_JOB_KIND), None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    app.drain().await;
    assert_eq!(smtp.received().len(), 3);
}

#[tokio::test]
async fn an_email_is_not_sent_before_its_time() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp, false).await;
    let store = &app.app.store;
    let now = Utc::now();
    let at = now + Duration::minutes(2);
    store
        .enqueue_email(&email(None), at, now)
        .await
        .unwrap()
        .unwrap();
    let worker = worker(&app);
    worker.run_at(now).await;
    assert!(smtp.received().is_empty());
    assert_eq!(smtp.connections(), 0);
    worker.run_at(at).await;
    assert_eq!(smtp.received().len(), 1);
}

#[tokio::test]
async fn without_smtp_settings_an_email_job_fails_saying_why() {
    let app = spawn_app_with(Options::default()).await;
    assert!(app.app.mail.is_none());
    let store = &app.app.store;
    let now = Utc::now();
    let id = store
        .enqueue_email(&email(None), now, now)
        .await
        .unwrap()
        .unwrap();
    app.drain().await;
    let job = send_job(store).await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.last_error.unwrap();
    assert!(error.contains("SMTP_HOST"), "{error}");
    let e = stored(store, id).await;
    assert_eq!(e.status, EmailStatus::Failed);
    assert!(e.text.is_none() && e.html.is_none());
}

#[tokio::test]
async fn sent_and_failed_emails_are_purged_after_the_retention() {
    let smtp = SmtpServer::start().await;
    let app = app(&smtp, false).await;
    let store = &app.app.store;
    let now = Utc::now();
    for key in ["sent-old", "failed-old", "pending-old", "sent-new"] {
        store
            .enqueue_email(&email(Some(key)), now, now)
            .await
            .unwrap()
            .unwrap();
    }
    // Their sends are not what this test is about.
    app.db
        .exec("delete from jobs where kind = 'email.send'")
        .await;
    app.db
        .exec(
            "update outbound_emails set status = 'sent', body_text = null, body_html = null \
             where dedupe_key in ('sent-old', 'sent-new')",
        )
        .await;
    app.db
        .exec("update outbound_emails set status = 'failed' where dedupe_key = 'failed-old'")
        .await;
    let old = (now - Duration::days(100))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let at = if app.db.url().starts_with("postgres") {
        format!("timestamptz '{old}+00'")
    } else {
        format!("'{old}+00:00'")
    };
    app.db
        .exec(&format!(
            "update outbound_emails set created_at = {at} where dedupe_key like '%-old'"
        ))
        .await;

    // The periodic purges, as the scheduler enqueues them, with a 90-day retention.
    app.drain().await;
    let mut left: Vec<String> = store
        .emails(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.dedupe_key.unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["pending-old", "sent-new"], "a waiting one stays");
    let purge = store.jobs(Some("emails.purge"), None, 5).await.unwrap();
    assert_eq!(purge.len(), 1);
    assert_eq!(purge[0].status, JobStatus::Done, "{purge:?}");
}

/// A mailer of `tls` to the test server, which offers no TLS at all.
fn mailer(smtp: &SmtpServer, tls: SmtpTls) -> SmtpMailer {
    SmtpMailer::new(&SmtpSettings {
        host: "127.0.0.1".into(),
        port: smtp.address().port(),
        user: SMTP_USER.into(),
        password: SecretString::from(SMTP_PASSWORD.to_owned()),
        from: Email::parse(SMTP_FROM).unwrap(),
        tls,
    })
    .expect("TLS sets up on this machine")
}

#[tokio::test]
async fn with_tls_required_a_server_without_it_gets_neither_the_password_nor_the_email() {
    // `TestDb::new` installs the crypto provider for the other tests; here, no database.
    proxycall::install_crypto_provider();
    let smtp = SmtpServer::start().await;
    let (from, to) = (Email::parse(SMTP_FROM).unwrap(), Email::parse(TO).unwrap());
    let outgoing = Outgoing {
        from: &from,
        to: &to,
        subject: SUBJECT,
        text: TEXT,
        html: None,
        message_id: "proxycall.1.1@proxycall.example.com".into(),
    };
    for tls in [SmtpTls::StartTls, SmtpTls::Tls] {
        let result = mailer(&smtp, tls).send(&outgoing).await;
        assert!(
            matches!(&result, Err(MailError::Passing(_))),
            "{tls:?}: {result:?}"
        );
    }
    assert_eq!(smtp.connections(), 2, "both tried");
    let commands = smtp.commands();
    assert!(
        commands.iter().any(|c| c.starts_with("EHLO")),
        "STARTTLS was looked for: {commands:?}"
    );
    assert!(
        !commands
            .iter()
            .any(|c| c.starts_with("AUTH") || c.starts_with("MAIL")),
        "nothing sent in clear: {commands:?}"
    );
    assert!(smtp.received().is_empty());

    // The same server in clear, as `SMTP_TLS=none` allows on loopback: delivered.
    mailer(&smtp, SmtpTls::None).send(&outgoing).await.unwrap();
    assert_eq!(smtp.received().len(), 1);
}

/// Polls until `done` holds; what a test of a separate process waits for.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    for _ in 0..400 {
        if done().await {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(25)).await;
    }
    panic!("{what}: not within 10 s");
}

async fn status_of(store: &std::sync::Arc<dyn Store>, id: i64) -> EmailStatus {
    stored(store, id).await.status
}

#[tokio::test]
async fn a_serve_process_sends_emails_and_logs_no_address_subject_nor_body() {
    let smtp = SmtpServer::start().await;
    let db = TestDb::new().await;
    let app = App::simulated(store::connect(db.url()).await.unwrap());
    let ops = keys::create(&app, "ops", Scopes::admin(), None)
        .await
        .unwrap();
    let port = free_port();
    let smtp_port = smtp.address().port().to_string();
    let child = server_with(
        &db,
        port,
        &[
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_PORT", &smtp_port),
            ("SMTP_TLS", "none"),
            ("SMTP_USER", SMTP_USER),
            ("SMTP_PASSWORD", SMTP_PASSWORD),
            ("SMTP_FROM", SMTP_FROM),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_until_up(&http, &base).await;
    let store = &app.store;
    let now: DateTime<Utc> = Utc::now();

    // Refused for good, with an answer that names the address.
    smtp.fail_next(1, 550, Stage::Rcpt);
    let mut refused = email(None);
    refused.to = Email::parse("paul.durand@example.com").unwrap();
    let refused = store
        .enqueue_email(&refused, now, now)
        .await
        .unwrap()
        .unwrap();
    until("the refused e-mail fails", || async {
        status_of(store, refused).await == EmailStatus::Failed
    })
    .await;
    // Then one delivered.
    let sent = store
        .enqueue_email(&email(None), now, now)
        .await
        .unwrap()
        .unwrap();
    until("the e-mail is sent", || async {
        status_of(store, sent).await == EmailStatus::Sent
    })
    .await;
    let received: Vec<Received> = smtp.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt_to, [TO]);

    let metrics = http
        .get(format!("{base}/metrics"))
        .bearer_auth(&ops.secret)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "emails_sent_total{outcome=\"sent\"} 1",
        "emails_sent_total{outcome=\"failed\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}:\n{metrics}");
    }

    let logs = stop(child).await;
    assert!(logs.contains("e-mail sent"), "{logs}");
    assert!(logs.contains("e-mail failed for good"), "{logs}");
    assert!(logs.contains("j***@example.com"), "masked: {logs}");
    for secret in [
        "jeanne.martin",
        "paul.durand",
        "Confirmez",
        SUBJECT,
        "tok-0123456789abcdef",
        "Bonjour",
        SMTP_PASSWORD,
    ] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}

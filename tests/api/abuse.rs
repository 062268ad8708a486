//! A real `serve` process under abuse: invented methods by the hundred thousand, and
//! thousands of idle or slow connections. Each test checks the rest is still served.

use std::time::{Duration, Instant};

use rand::RngExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestDb;
use crate::processes::{free_port, server_with, wait_until_up};

/// `PROXYCALL_API_TOKEN` of these servers.
const TOKEN: &str = "abuse-test-token-0123456789abcdef";

/// The resident memory of a process, in KiB.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// A method nobody uses: a token of letters and digits, sometimes very long.
fn invented_method(rng: &mut impl rand::Rng, i: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let len = if i.is_multiple_of(97) {
        rng.random_range(1_000..4_000)
    } else {
        rng.random_range(3..24)
    };
    let mut method: String = (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    // Never one of the methods the server knows by name.
    method.insert(0, 'X');
    method
}

/// Reads whole responses from `stream` until `n` have come; returns their status codes.
async fn read_responses(stream: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> Vec<u16> {
    let mut statuses = Vec::with_capacity(n);
    let mut chunk = vec![0u8; 256 * 1024];
    while statuses.len() < n {
        // One whole response at the front of `buf`?
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..head_end]).unwrap();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + length {
                statuses.push(head[9..12].parse().unwrap());
                buf.drain(..head_end + 4 + length);
                continue;
            }
        }
        let read = stream.read(&mut chunk).await.unwrap();
        assert!(read > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..read]);
    }
    statuses
}

/// Sends `n` requests with invented methods over `clients` keep-alive connections, pipelined
/// by the hundred (a debug-build client would otherwise be the bottleneck).
async fn invented_requests(port: u16, n: usize, clients: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        tasks.spawn(async move {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let mut buf = Vec::new();
            let mine: Vec<usize> = (c..n).step_by(clients).collect();
            for batch in mine.chunks(100) {
                let mut out = Vec::new();
                for &i in batch {
                    let method = invented_method(&mut rand::rng(), i);
                    let path = ["/health", "/orders", "/clients/1", "/no/such/route"][i % 4];
                    out.extend_from_slice(
                        format!("{method} {path} HTTP/1.1\r\nHost: proxycall\r\n\r\n").as_bytes(),
                    );
                }
                stream.write_all(&out).await.unwrap();
                for status in read_responses(&mut stream, &mut buf, batch.len()).await {
                    assert!((400..500).contains(&status), "{status}");
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_leave_the_metrics_and_the_memory_bounded() {
    let db = TestDb::new().await;
    let port = free_port();
    let mut child = server_with(
        &db,
        port,
        &[("PROXYCALL_API_TOKEN", TOKEN), ("LOG_LEVEL", "warn")],
    );
    let _logs = child.output();
    let pid = child.id().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_until_up(&http, &base).await;

    let started = Instant::now();
    invented_requests(port, 10_000, 8).await;
    let warm = resident_kib(pid);
    invented_requests(port, 90_000, 8).await;
    let after = resident_kib(pid);
    let took = started.elapsed();

    // Nobody scraped until now: what the recorder holds is what it holds after 100 000 requests.
    let metrics = http
        .get(format!("{base}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Allocators keep some of what was freed; what must not happen is growth with the load.
    assert!(
        after <= warm + 12 * 1024,
        "resident memory grew from {warm} KiB after 10 000 requests to {after} KiB after 100 000"
    );
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .collect();
    let counted: f64 = series
        .iter()
        .filter(|l| l.contains("method=\"other\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        series.len() <= 12,
        "{} series of http_requests_total:\n{}",
        series.len(),
        series.join("\n")
    );
    assert!(
        metrics.len() < 32 * 1024,
        "{} bytes of metrics",
        metrics.len()
    );
    for line in metrics.lines().filter(|l| l.contains("method=\"")) {
        let method = line.split("method=\"").nth(1).unwrap().split('"').next();
        assert!(
            matches!(
                method,
                Some("GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" | "other")
            ),
            "{line:.200}"
        );
    }
    assert_eq!(counted, 100_000.0, "every request counted as `other`");
    eprintln!(
        "100 000 invented methods in {took:?}: {warm} KiB -> {after} KiB resident, {} series, \
         {} bytes of metrics",
        series.len(),
        metrics.len()
    );
    let _ = child.start_kill();
}

const WEBHOOK_TOKEN: &str = "abuse-test-webhook-token";

/// A signed call to a proxy nobody owns: answered at once, with the "unknown number" TwiML.
async fn signed_call(http: &reqwest::Client, base: &str, sid: &str) -> (u16, Duration) {
    let started = Instant::now();
    let params = proxycall::simulate::call_params("+33698765432", "+33780000999", sid);
    let (status, twiml) = proxycall::simulate::post_webhook(
        http,
        base,
        "/twilio/voice",
        WEBHOOK_TOKEN.as_bytes(),
        &params,
    )
    .await
    .expect("the webhook is answered");
    assert!(twiml.contains("<Say"), "{twiml}");
    (status, started.elapsed())
}

/// Waits until the server closes `stream` (end of file or reset); `None` if it is still open
/// after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Instant> {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// How the idle connections of the test below behave.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Idle {
    /// Connects and sends nothing.
    Silent,
    /// Sends a request line, then a header byte every 300 ms, never the end of the head.
    Trickling,
    /// Makes one request, reads the answer, then waits.
    KeptAlive,
}

/// One idle connection, just connected: returns when its clock started (connected, or
/// answered for a kept-alive one) and when the server closed it.
async fn idle_connection(
    mut stream: TcpStream,
    kind: Idle,
    limit: Duration,
) -> (Idle, Instant, Option<Instant>) {
    let mut since = Instant::now();
    match kind {
        Idle::Silent => {}
        Idle::Trickling => {
            stream
                .write_all(b"POST /twilio/voice HTTP/1.1\r\nHost: proxycall\r\nX-Slow: ")
                .await
                .unwrap();
            let deadline = tokio::time::Instant::now() + limit;
            let mut buf = [0u8; 1024];
            loop {
                tokio::select! {
                    read = stream.read(&mut buf) => {
                        if matches!(read, Ok(0) | Err(_)) {
                            return (kind, since, Some(Instant::now()));
                        }
                    }
                    () = tokio::time::sleep(Duration::from_millis(300)) => {
                        if stream.write_all(b"a").await.is_err() {
                            return (kind, since, Some(Instant::now()));
                        }
                    }
                    () = tokio::time::sleep_until(deadline) => return (kind, since, None),
                }
            }
        }
        Idle::KeptAlive => {
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: proxycall\r\n\r\n")
                .await
                .unwrap();
            let statuses = read_responses(&mut stream, &mut Vec::new(), 1).await;
            assert_eq!(statuses, [200]);
            since = Instant::now();
        }
    }
    (kind, since, closed_within(&mut stream, limit).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_do_not_stop_a_signed_webhook_and_are_closed_in_time() {
    let (header, idle) = (Duration::from_secs(4), Duration::from_secs(8));
    let db = TestDb::new().await;
    let port = free_port();
    let mut child = server_with(
        &db,
        port,
        &[
            ("PROXYCALL_API_TOKEN", TOKEN),
            ("TWILIO_AUTH_TOKEN", WEBHOOK_TOKEN),
            ("PROXYCALL_HEADER_TIMEOUT_SECS", "4"),
            ("PROXYCALL_IDLE_TIMEOUT_SECS", "8"),
            ("LOG_LEVEL", "info"),
        ],
    );
    let _logs = child.output();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_until_up(&http, &base).await;

    // Opened a hundred at a time, as fast as the listen backlog takes them.
    let started = Instant::now();
    let mut idle_ones = tokio::task::JoinSet::new();
    for batch in 0..20 {
        let mut connecting = tokio::task::JoinSet::new();
        for _ in 0..100 {
            connecting.spawn(TcpStream::connect(("127.0.0.1", port)));
        }
        let mut i = batch;
        while let Some(stream) = connecting.join_next().await {
            let kind = [Idle::Silent, Idle::Trickling, Idle::KeptAlive][i % 3];
            i += 1;
            idle_ones.spawn(idle_connection(stream.unwrap().unwrap(), kind, idle * 2));
        }
    }
    eprintln!("2 000 connections opened in {:?}", started.elapsed());
    // Let the kept-alive ones be answered.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Twilio, on a connection of its own, is answered at once.
    let fresh = reqwest::Client::new();
    let (status, took) = signed_call(&fresh, &base, "CA-while-idle").await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "the webhook took {took:?}");
    let answered_at = started.elapsed();

    let mut closed = Vec::new();
    while let Some(done) = idle_ones.join_next().await {
        closed.push(done.unwrap());
    }
    // The 2 000 were still open when the webhook was answered: none can be closed before its
    // first deadline, which comes after the answer.
    let first_close = closed
        .iter()
        .filter_map(|(_, _, at)| *at)
        .min()
        .expect("connections were closed");
    eprintln!(
        "webhook answered at {answered_at:?}, first connection closed at {:?}",
        first_close - started
    );
    assert!(
        first_close > started + answered_at,
        "a connection was closed before the webhook was answered"
    );
    let slack = Duration::from_millis(1_500);
    for (kind, since, at) in &closed {
        let at = at.unwrap_or_else(|| panic!("a {kind:?} connection was never closed"));
        let lived = at - *since;
        let expected = if *kind == Idle::KeptAlive {
            idle
        } else {
            header
        };
        assert!(
            lived + Duration::from_millis(300) >= expected && lived <= expected + slack,
            "a {kind:?} connection was closed after {lived:?}, not about {expected:?}"
        );
    }
    assert_eq!(closed.len(), 2_000);
    for kind in [Idle::Silent, Idle::Trickling, Idle::KeptAlive] {
        assert!(
            closed.iter().filter(|c| c.0 == kind).count() > 600,
            "{kind:?}"
        );
    }

    // And the server is as good as new.
    let (status, took) = signed_call(&http, &base, "CA-after").await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "{took:?}");
    let _ = child.start_kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_connection_is_taken_idle_ones_make_room_for_a_webhook() {
    let db = TestDb::new().await;
    let port = free_port();
    // Long time-outs: only making room can free a slot within this test.
    let mut child = server_with(
        &db,
        port,
        &[
            ("PROXYCALL_API_TOKEN", TOKEN),
            ("TWILIO_AUTH_TOKEN", WEBHOOK_TOKEN),
            ("PROXYCALL_MAX_CONNECTIONS", "100"),
            ("PROXYCALL_HEADER_TIMEOUT_SECS", "60"),
            ("PROXYCALL_IDLE_TIMEOUT_SECS", "600"),
            ("LOG_LEVEL", "info"),
        ],
    );
    let logs = child.output();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_until_up(&http, &base).await;
    drop(http);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // 100 kept-alive connections take every slot, and 20 more wait without a word.
    let mut kept = Vec::new();
    for _ in 0..100 {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: proxycall\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_responses(&mut stream, &mut Vec::new(), 1).await, [200]);
        kept.push(stream);
    }
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    // Only connections with nothing in progress for a second are closed to make room.
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let (status, took) = signed_call(&reqwest::Client::new(), &base, "CA-full").await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(2), "the webhook took {took:?}");
    let mut closed = 0;
    for stream in &mut kept {
        if closed_within(stream, Duration::from_millis(100))
            .await
            .is_some()
        {
            closed += 1;
        }
    }
    assert!(closed >= 20, "only {closed} idle connections made room");
    assert!(
        logs.lock()
            .unwrap()
            .contains("every connection slot is taken"),
        "the operator is told"
    );
    let _ = child.start_kill();
}

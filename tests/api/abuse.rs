//! A real `serve` process under abuse: invented methods by the hundred thousand, and
//! thousands of idle or slow connections. Each test checks the rest is still served.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::RngExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Child;

use crate::helpers::TestDb;
use crate::processes::{free_port, server_with, wait_until_up};

/// `PROXYCALL_API_TOKEN` of these servers.
const TOKEN: &str = "abuse-test-token-0123456789abcdef";

/// Everything the process writes, read as it comes: a full pipe would stall the server.
fn drain_output(child: &mut Child) -> Arc<Mutex<String>> {
    let logs = Arc::new(Mutex::new(String::new()));
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    for mut pipe in [
        Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(stderr),
    ] {
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
        });
    }
    logs
}

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
    let len = if i % 97 == 0 {
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
    let _logs = drain_output(&mut child);
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

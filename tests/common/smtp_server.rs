//! A real SMTP server on loopback, started by a test: it speaks enough of RFC 5321 for a
//! client such as lettre (EHLO/HELO, AUTH PLAIN and LOGIN, MAIL FROM, RCPT TO, DATA with
//! dot-unstuffing, RSET, NOOP, QUIT), records each message it accepts — envelope, the
//! credentials of its connection, and the data as received — and can be told to refuse the
//! next messages (`fail_next`) or to be down (`down`, then `up`: connections refused).
//!
//! Shared by test binaries through `#[path]`; each uses part of it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// A message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// `MAIL FROM`'s address, without `<>`.
    pub mail_from: String,
    /// Each `RCPT TO`'s address, without `<>`.
    pub rcpt_to: Vec<String>,
    /// `(user, password)` its connection authenticated with, if it did.
    pub auth: Option<(String, String)>,
    /// The message as sent after `DATA`, dot-unstuffed, without the final `.` line.
    pub data: Vec<u8>,
}

/// Where in a transaction a refusal is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Instead of the greeting, then the connection is closed (e.g. 421).
    Greeting,
    /// In answer to `RCPT TO` (e.g. 550, mailbox unavailable).
    Rcpt,
    /// In answer to the end of the data (e.g. 451, or 554).
    Data,
}

#[derive(Debug, Clone, Copy)]
struct Refusal {
    code: u16,
    stage: Stage,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    refusals: VecDeque<Refusal>,
    /// Refusals given, in order, as `(code, stage)`.
    refused: Vec<(u16, Stage)>,
    connections: usize,
    /// Every command line received (AUTH as `AUTH MECHANISM`, without credentials).
    commands: Vec<String>,
}

pub struct SmtpServer {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    accepting: Mutex<Option<JoinHandle<()>>>,
}

/// The host name the server greets with.
const NAME: &str = "smtp.test";

impl SmtpServer {
    /// A server listening on 127.0.0.1, on a port of its own.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let accepting = tokio::spawn(accept(listener, state.clone()));
        Self {
            address,
            state,
            accepting: Mutex::new(Some(accepting)),
        }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Every message accepted so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The next `n` messages are refused with `code` at `stage`.
    pub fn fail_next(&self, n: usize, code: u16, stage: Stage) {
        let mut state = self.state.lock().unwrap();
        for _ in 0..n {
            state.refusals.push_back(Refusal { code, stage });
        }
    }

    /// The refusals given so far, oldest first.
    pub fn refused(&self) -> Vec<(u16, Stage)> {
        self.state.lock().unwrap().refused.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Every command received so far (credentials left out).
    pub fn commands(&self) -> Vec<String> {
        self.state.lock().unwrap().commands.clone()
    }

    /// Stops listening: connections are refused until `up`.
    pub async fn down(&self) {
        let task = self.accepting.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again, on the same address.
    pub async fn up(&self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.address).unwrap();
        let listener = socket.listen(64).unwrap();
        let task = tokio::spawn(accept(listener, self.state.clone()));
        *self.accepting.lock().unwrap() = Some(task);
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(task) = self.accepting.lock().unwrap().take() {
            task.abort();
        }
    }
}

async fn accept(listener: TcpListener, state: Arc<Mutex<State>>) {
    // The listener lives in this task: aborting it closes the port.
    while let Ok((stream, _)) = listener.accept().await {
        state.lock().unwrap().connections += 1;
        tokio::spawn(session(stream, state.clone()));
    }
}

/// One connection, until QUIT or the client goes.
async fn session(stream: TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    macro_rules! reply {
        ($($arg:tt)*) => {
            if write.write_all(format!("{}\r\n", format!($($arg)*)).as_bytes()).await.is_err() {
                return;
            }
        };
    }
    let next_refusal = |stage: Stage| {
        let mut s = state.lock().unwrap();
        if s.refusals.front().is_some_and(|r| r.stage == stage) {
            let r = s.refusals.pop_front().unwrap();
            s.refused.push((r.code, r.stage));
            Some(r.code)
        } else {
            None
        }
    };
    if let Some(code) = next_refusal(Stage::Greeting) {
        reply!("{code} {NAME} service not available, closing the connection");
        return;
    }
    reply!("220 {NAME} ESMTP ready");

    let mut auth: Option<(String, String)> = None;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    loop {
        let Some(line) = read_line(&mut lines).await else {
            return;
        };
        let upper = line.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or("").to_owned();
        // AUTH's credentials are not kept (those sent on lines of their own are read below).
        state.lock().unwrap().commands.push(if verb == "AUTH" {
            upper.split(' ').take(2).collect::<Vec<_>>().join(" ")
        } else {
            line.clone()
        });
        match verb.as_str() {
            "EHLO" => {
                reply!("250-{NAME} greets you");
                reply!("250-AUTH PLAIN LOGIN");
                reply!("250-8BITMIME");
                reply!("250 SIZE 10485760");
            }
            "HELO" => reply!("250 {NAME}"),
            "AUTH" => {
                let words: Vec<&str> = line.split(' ').collect();
                let mechanism = words.get(1).map(|m| m.to_ascii_uppercase());
                let given = match mechanism.as_deref() {
                    Some("PLAIN") => {
                        let encoded = match words.get(2) {
                            Some(initial) => initial.to_string(),
                            None => {
                                reply!("334 ");
                                match read_line(&mut lines).await {
                                    Some(l) => l,
                                    None => return,
                                }
                            }
                        };
                        let decoded = decode(&encoded);
                        let mut parts = decoded.split('\0').skip(1);
                        match (parts.next(), parts.next()) {
                            (Some(user), Some(password)) => {
                                Some((user.to_owned(), password.to_owned()))
                            }
                            _ => None,
                        }
                    }
                    Some("LOGIN") => {
                        let user = match words.get(2) {
                            Some(initial) => decode(initial),
                            None => {
                                reply!("334 VXNlcm5hbWU6");
                                match read_line(&mut lines).await {
                                    Some(l) => decode(&l),
                                    None => return,
                                }
                            }
                        };
                        reply!("334 UGFzc3dvcmQ6");
                        let Some(password) = read_line(&mut lines).await else {
                            return;
                        };
                        Some((user, decode(&password)))
                    }
                    _ => {
                        reply!("504 5.5.4 mechanism not supported");
                        continue;
                    }
                };
                match given {
                    Some(credentials) => {
                        auth = Some(credentials);
                        reply!("235 2.7.0 authenticated");
                    }
                    None => reply!("501 5.5.2 cannot decode the credentials"),
                }
            }
            "MAIL" => match address_of(&line) {
                Some(from) => {
                    mail_from = Some(from);
                    rcpt_to.clear();
                    reply!("250 2.1.0 ok");
                }
                None => reply!("501 5.5.4 syntax: MAIL FROM:<address>"),
            },
            "RCPT" => {
                let Some(to) = address_of(&line) else {
                    reply!("501 5.5.4 syntax: RCPT TO:<address>");
                    continue;
                };
                if mail_from.is_none() {
                    reply!("503 5.5.1 MAIL first");
                } else if let Some(code) = next_refusal(Stage::Rcpt) {
                    // As real servers do, the answer names the address it refuses.
                    reply!("{code} 5.1.1 <{to}>: mailbox unavailable");
                } else {
                    rcpt_to.push(to);
                    reply!("250 2.1.5 ok");
                }
            }
            "DATA" => {
                if mail_from.is_none() || rcpt_to.is_empty() {
                    reply!("503 5.5.1 MAIL and RCPT first");
                    continue;
                }
                reply!("354 end data with <CR><LF>.<CR><LF>");
                let Some(data) = read_data(&mut lines).await else {
                    return;
                };
                if let Some(code) = next_refusal(Stage::Data) {
                    reply!("{code} message not accepted, try again later");
                } else {
                    let n = {
                        let mut s = state.lock().unwrap();
                        s.received.push(Received {
                            mail_from: mail_from.clone().unwrap_or_default(),
                            rcpt_to: rcpt_to.clone(),
                            auth: auth.clone(),
                            data,
                        });
                        s.received.len()
                    };
                    reply!("250 2.0.0 ok: queued as {n}");
                }
                mail_from = None;
                rcpt_to.clear();
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                reply!("250 2.0.0 ok");
            }
            "NOOP" => reply!("250 2.0.0 ok"),
            "QUIT" => {
                reply!("221 2.0.0 bye");
                return;
            }
            _ => reply!("502 5.5.2 command not recognised"),
        }
    }
}

/// One line without its CRLF; `None` when the client is gone.
async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> Option<String> {
    let mut buf = Vec::new();
    match reader.read_until(b'\n', &mut buf).await {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                buf.pop();
            }
            Some(String::from_utf8_lossy(&buf).into_owned())
        }
    }
}

/// The data up to the line holding a single dot, each line's leading dot doubled by the
/// client taken back (RFC 5321 §4.5.2). Lines keep their CRLF.
async fn read_data<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await.ok()? == 0 {
            return None;
        }
        if line == b".\r\n" || line == b".\n" {
            return Some(data);
        }
        let unstuffed = if line.starts_with(b".") {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(unstuffed);
    }
}

/// The address between `<` and `>` of a MAIL FROM or RCPT TO line.
fn address_of(line: &str) -> Option<String> {
    let start = line.find('<')?;
    let end = line[start..].find('>')? + start;
    Some(line[start + 1..end].to_owned())
}

fn decode(b64: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

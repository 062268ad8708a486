//! A pool operation from the command line: the same job the route starts (one of each kind at
//! a time, across processes), run by a worker of this process for that one kind — or by a
//! server's, whichever claims it first — and followed until it ends, with a progress bar on a
//! terminal and plain lines otherwise. The report is printed as the route answers it
//! (`--json`), or as a few lines for a person.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tokio::sync::watch;

use super::Failure;
use crate::app::{App, operations};
use crate::jobs::{Job, Registry, Worker};
use crate::store::{Job as StoredJob, JobStatus};

/// How often the job is looked at.
const POLL: Duration = Duration::from_millis(200);
/// On a pipe, a progress line at most this often.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// Runs `job` to its end and prints its report; `label` names it in progress lines.
pub async fn run<J: Job>(app: &App, job: J, label: &str, json: bool) -> Result<(), Failure> {
    let report = follow(app, job, label).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

async fn follow<J: Job>(app: &App, job: J, label: &str) -> Result<Value, Failure> {
    let (id, already) = operations::start(app, &job).await?;
    let mut progress = Progress::new(label);
    progress.line(&if already {
        format!("{label}: one is already under way (job {id}): following it instead")
    } else {
        format!("{label}: job {id}")
    });
    let (stop, stopped) = watch::channel(false);
    let worker = Worker::new(app.clone(), Arc::new(Registry::new().register::<J>()));
    let working = tokio::spawn(worker.run(stopped));
    app.job_wake.notify_waiters();
    let ended = loop {
        let Some(stored) = app.store.job(id).await? else {
            break Err(Failure::from(format!("job {id} is gone")));
        };
        match stored.status {
            JobStatus::Done => {
                break Ok(operations::parse(stored.result.as_deref()).unwrap_or_default());
            }
            JobStatus::Failed => break Err(operations::failure(&stored).into()),
            JobStatus::Queued | JobStatus::Running => progress.show(&stored),
        }
        tokio::time::sleep(POLL).await;
    };
    progress.finish();
    let _ = stop.send(true);
    let _ = working.await;
    ended
}

/// A bar on a terminal; on a pipe, a line when something changed (at most every 2 s).
struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    last: Option<(String, Instant)>,
}

impl Progress {
    fn new(label: &str) -> Self {
        // A spinner until the job says how much there is to do, then a bar.
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {prefix} {elapsed} {msg}")
                    .expect("a valid template"),
            );
            bar.set_prefix(label.to_owned());
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Self {
            bar,
            label: label.to_owned(),
            last: None,
        }
    }

    fn line(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn show(&mut self, job: &StoredJob) {
        let (done, of) = counts(job);
        // A try that failed and waits for the next: say why and when.
        let waiting = match (&job.status, &job.last_error) {
            (JobStatus::Queued, Some(e)) if job.attempts > 0 => format!(
                "try {} of {} failed ({e}); next try at {}",
                job.attempts,
                job.max_attempts,
                job.due_at.format("%H:%M:%S UTC")
            ),
            _ => String::new(),
        };
        if let Some(bar) = &self.bar {
            if let Some(of) = of
                && bar.length() != Some(of)
            {
                bar.set_style(
                    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed} {msg}")
                        .expect("a valid template")
                        .progress_chars("=> "),
                );
                bar.set_length(of);
            }
            bar.set_position(done);
            bar.set_message(waiting);
            return;
        }
        let text = match of {
            Some(of) => format!("{}: {done}/{of} {waiting}", self.label),
            None if !waiting.is_empty() => format!("{}: {waiting}", self.label),
            // Nothing to say yet.
            None => return,
        };
        let text = text.trim_end().to_owned();
        let due = self
            .last
            .as_ref()
            .is_none_or(|(last, at)| *last != text && at.elapsed() >= PLAIN_EVERY);
        if due {
            eprintln!("{text}");
            self.last = Some((text, Instant::now()));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// How far a job got, from its progress: `done`/`of`, or what a provisioning bought of its
/// batch.
fn counts(job: &StoredJob) -> (u64, Option<u64>) {
    let Some(p) = operations::parse(job.progress.as_deref()) else {
        return (0, None);
    };
    let done = p["done"]
        .as_u64()
        .or_else(|| p["purchased_now"].as_array().map(|a| a.len() as u64))
        .unwrap_or(0);
    (done, p["of"].as_u64())
}

/// A report for a person: one line per key; lists with their length, then one item a line.
pub fn render(report: &Value) -> String {
    let mut out = String::new();
    let Some(fields) = report.as_object() else {
        return format!("{report}\n");
    };
    for (key, value) in fields {
        match value {
            Value::Array(items) => {
                out.push_str(&format!("{key}: {}\n", items.len()));
                for item in items {
                    out.push_str(&format!("  {}\n", item_line(item)));
                }
            }
            Value::Null => {}
            Value::String(s) if s.is_empty() => {}
            Value::String(s) => out.push_str(&format!("{key}: {s}\n")),
            other => out.push_str(&format!("{key}: {other}\n")),
        }
    }
    out
}

/// An item of a report's list: a number, or an object with its number first.
fn item_line(item: &Value) -> String {
    let Some(fields) = item.as_object() else {
        return item
            .as_str()
            .map_or_else(|| item.to_string(), str::to_owned);
    };
    let number = ["number", "phone_number"]
        .iter()
        .find_map(|k| fields.get(*k)?.as_str());
    let rest = fields
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "number" | "phone_number"))
        .map(|(k, v)| match v.as_str() {
            Some(s) => format!("{k}={s}"),
            None => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(" ");
    match number {
        Some(n) => format!("{n} {rest}").trim_end().to_owned(),
        None => rest,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::render;

    #[test]
    fn a_report_reads_as_lines_with_numbers_first() {
        let text = render(&json!({
            "released": ["+33780000001"],
            "not_found": [],
            "failed": [{"number": "+33780000002", "error": "held"}],
            "ts": "2026-11-30T20:00:00.000000",
            "stopped": null,
        }));
        // Keys in order, as serde_json keeps them.
        assert_eq!(
            text,
            "failed: 1\n  +33780000002 error=held\nnot_found: 0\nreleased: 1\n  +33780000001\n\
             ts: 2026-11-30T20:00:00.000000\n"
        );
    }
}

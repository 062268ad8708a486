//! Group commit: callers queue jobs; one task handles whatever has queued up meanwhile as one
//! batch and answers each caller.
//!
//! Why: each database statement is a hop between tasks and the connection's thread, and on a
//! busy 2-core machine a hop costs far more than the SQL. Handling webhooks one by one took
//! about seven hops each; a batch of any size takes about six in all.
//!
//! A panic fails only the job that causes it: when a batch panics, its jobs are handled again
//! one at a time, and only a job that panics alone gets `None`; the others are answered as
//! if nothing had happened. One panicking job costs no pause. Panics that repeat with no job
//! served between them (a bug every job hits) make the task pause before the next batch, for
//! a time that doubles with each of them, so that it does not spin; while it pauses the
//! batcher is down (`is_up`), which readiness reports.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

/// Jobs of type `J`, each answered with an `R`. `None` when the job panicked or the task is
/// gone.
pub struct Batcher<J, R> {
    queue: mpsc::Sender<(J, oneshot::Sender<R>)>,
    up: Arc<AtomicBool>,
}

/// Runs `handle` on `work`; `None` when it panics (while building its future, or running it).
async fn guarded<J, R, F, Fut>(handle: &F, work: Vec<J>) -> Option<Vec<R>>
where
    F: Fn(Vec<J>) -> Fut,
    Fut: Future<Output = Vec<R>>,
{
    AssertUnwindSafe(async { handle(work).await })
        .catch_unwind()
        .await
        .ok()
}

impl<J: Clone + Send + 'static, R: Send + 'static> Batcher<J, R> {
    /// Starts the batch task. `handle` gets up to `max` jobs at a time and returns one answer
    /// per job, in order. When a batch panics, each of its jobs is handled again on its own.
    /// After the second job in a row that panicked alone (no job served between them), the
    /// task pauses `restart_after`, doubled for each further one, up to 64 times.
    pub fn spawn<F, Fut>(max: usize, restart_after: Duration, handle: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let (queue, mut jobs) = mpsc::channel::<(J, oneshot::Sender<R>)>(max * 4);
        let up = Arc::new(AtomicBool::new(true));
        let status = up.clone();
        tokio::spawn(async move {
            // Jobs that panicked alone since the last job served.
            let mut panics_in_a_row = 0u32;
            while let Some(first) = jobs.recv().await {
                let mut batch = vec![first];
                while batch.len() < max {
                    match jobs.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let (work, replies): (Vec<J>, Vec<_>) = batch.into_iter().unzip();
                metrics::histogram!("routing_batch_size").record(work.len() as f64);
                // Kept for a second run, one by one, should the batch panic: a clone of each
                // job is cheap next to the batch's database work.
                let again = work.clone();
                let answers: Vec<Option<R>> = match guarded(&handle, work).await {
                    Some(answers) => answers.into_iter().map(Some).collect(),
                    None => {
                        metrics::counter!("routing_engine_panics_total").increment(1);
                        tracing::error!(
                            jobs = again.len(),
                            "the routing engine panicked: its batch is handled again, one job at a time"
                        );
                        let mut answers = Vec::with_capacity(again.len());
                        for job in again {
                            let answer =
                                guarded(&handle, vec![job]).await.and_then(|mut a| a.pop());
                            if answer.is_none() {
                                metrics::counter!("routing_job_panics_total").increment(1);
                                tracing::error!(
                                    "the routing engine panicked on a job alone: it fails"
                                );
                            }
                            answers.push(answer);
                        }
                        answers
                    }
                };
                // Counted in the order the jobs came: a job served ends the run of panics.
                for answer in &answers {
                    if answer.is_some() {
                        panics_in_a_row = 0;
                    } else {
                        panics_in_a_row = panics_in_a_row.saturating_add(1);
                    }
                }
                let pause = (panics_in_a_row >= 2)
                    .then(|| restart_after * (1u32 << (panics_in_a_row - 2).min(6)));
                if pause.is_some() {
                    // Down before anyone hears of the failure: readiness says so at once.
                    status.store(false, Ordering::SeqCst);
                }
                // A job that failed drops its reply: its caller learns it now.
                for (reply, answer) in replies.into_iter().zip(answers) {
                    if let Some(answer) = answer {
                        let _ = reply.send(answer);
                    }
                }
                if let Some(pause) = pause {
                    tracing::error!(
                        panics_in_a_row,
                        pause_ms = pause.as_millis() as u64,
                        "the routing engine keeps panicking: it pauses"
                    );
                    tokio::time::sleep(pause).await;
                    status.store(true, Ordering::SeqCst);
                }
            }
        });
        Self { queue, up }
    }

    pub async fn submit(&self, job: J) -> Option<R> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((job, reply)).await.ok()?;
        answer.await.ok()
    }

    /// Whether the task takes jobs: false while it pauses after a panic, or once it is gone.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst) && !self.queue.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::Notify;

    use super::*;

    /// Doubles numbers; 13 makes its batch panic.
    fn doubler(restart_after: Duration) -> Batcher<u32, u32> {
        Batcher::spawn(8, restart_after, |jobs: Vec<u32>| async move {
            assert!(!jobs.contains(&13), "unlucky");
            jobs.into_iter().map(|j| j * 2).collect()
        })
    }

    #[tokio::test]
    async fn one_panic_costs_no_pause_and_panics_in_a_row_pause_the_task() {
        let batcher = doubler(Duration::from_millis(300));
        assert_eq!(batcher.submit(2).await, Some(4));
        assert!(batcher.is_up());

        assert_eq!(batcher.submit(13).await, None, "the panicking job fails");
        assert!(batcher.is_up(), "one panic alone: no pause");
        assert_eq!(batcher.submit(3).await, Some(6));

        assert_eq!(batcher.submit(13).await, None);
        assert!(batcher.is_up(), "a job served since the last panic");
        assert_eq!(batcher.submit(13).await, None);
        assert!(
            !batcher.is_up(),
            "two panics in a row: down while it pauses"
        );
        // Queued meanwhile: served once it starts again.
        assert_eq!(batcher.submit(3).await, Some(6));
        assert!(batcher.is_up());
    }

    #[tokio::test]
    async fn only_the_job_that_panics_fails_and_the_rest_of_its_batch_is_served() {
        let (started, gate) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (s, g) = (started.clone(), gate.clone());
        let batcher = Arc::new(Batcher::spawn(
            8,
            Duration::from_millis(10),
            move |jobs: Vec<u32>| {
                let (s, g) = (s.clone(), g.clone());
                async move {
                    // Job 0 holds its batch until the test has queued the next one.
                    if jobs.contains(&0) {
                        s.notify_one();
                        g.notified().await;
                    }
                    assert!(!jobs.contains(&13), "unlucky");
                    jobs.into_iter().map(|j| j * 2).collect::<Vec<u32>>()
                }
            },
        ));
        let submit = |job| {
            let b = batcher.clone();
            tokio::spawn(async move { b.submit(job).await })
        };
        let held = submit(0);
        started.notified().await;
        let next = [submit(1), submit(13), submit(5)];
        while batcher.queue.capacity() > 8 * 4 - 3 {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        assert_eq!(held.await.unwrap(), Some(0), "the batch before is answered");
        let [one, unlucky, five] = next;
        assert_eq!(one.await.unwrap(), Some(2), "shared the panicking batch");
        assert_eq!(unlucky.await.unwrap(), None, "the job that panics alone");
        assert_eq!(five.await.unwrap(), Some(10), "shared the panicking batch");
        assert!(batcher.is_up(), "one panic: no pause");
        assert_eq!(
            batcher.submit(7).await,
            Some(14),
            "the batch after is answered"
        );
    }
}

//! Group commit: callers queue jobs; one task handles whatever has queued up meanwhile as one
//! batch and answers each caller.
//!
//! Why: each database statement is a hop between tasks and the connection's thread, and on a
//! busy 2-core machine a hop costs far more than the SQL. Handling webhooks one by one took
//! about seven hops each; a batch of any size takes about six in all.
//!
//! A batch that panics fails its own jobs only: each of its callers gets `None`, and the task
//! starts again on the queue, after a pause that doubles while batches keep panicking (a bug
//! that every batch hits must not spin). From the panic until it starts again the batcher is
//! down (`is_up`), which readiness reports.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

/// Jobs of type `J`, each answered with an `R`. `None` when the batch failed or the task is
/// gone.
pub struct Batcher<J, R> {
    queue: mpsc::Sender<(J, oneshot::Sender<R>)>,
    up: Arc<AtomicBool>,
}

impl<J: Send + 'static, R: Send + 'static> Batcher<J, R> {
    /// Starts the batch task. `handle` gets up to `max` jobs at a time and returns one answer
    /// per job, in order. After a panic the task waits `restart_after` (doubled for each
    /// panic in a row) before it takes the next batch.
    pub fn spawn<F, Fut>(max: usize, restart_after: Duration, handle: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let (queue, mut jobs) = mpsc::channel::<(J, oneshot::Sender<R>)>(max * 4);
        let up = Arc::new(AtomicBool::new(true));
        let status = up.clone();
        tokio::spawn(async move {
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
                // The handler is called inside the guarded future: a panic while building the
                // future is caught too.
                match AssertUnwindSafe(async { handle(work).await })
                    .catch_unwind()
                    .await
                {
                    Ok(answers) => {
                        panics_in_a_row = 0;
                        for (reply, answer) in replies.into_iter().zip(answers) {
                            let _ = reply.send(answer);
                        }
                    }
                    Err(_) => {
                        status.store(false, Ordering::SeqCst);
                        metrics::counter!("routing_engine_panics_total").increment(1);
                        tracing::error!(
                            jobs = replies.len(),
                            "the routing engine panicked: its batch failed; it starts again"
                        );
                        // Each waiting caller learns now that its job failed.
                        drop(replies);
                        // Up to 64 times the first pause.
                        let pause = restart_after * (1u32 << panics_in_a_row.min(6));
                        panics_in_a_row = panics_in_a_row.saturating_add(1);
                        tokio::time::sleep(pause).await;
                        status.store(true, Ordering::SeqCst);
                    }
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
    async fn a_panicking_batch_fails_its_jobs_and_the_next_ones_are_served() {
        let batcher = doubler(Duration::from_millis(300));
        assert_eq!(batcher.submit(2).await, Some(4));
        assert!(batcher.is_up());

        assert_eq!(batcher.submit(13).await, None, "the panicking job fails");
        assert!(!batcher.is_up(), "down while it pauses");
        // Queued meanwhile: served once it starts again.
        assert_eq!(batcher.submit(3).await, Some(6));
        assert!(batcher.is_up());
    }

    #[tokio::test]
    async fn every_job_of_the_panicking_batch_fails_and_no_other() {
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
        for (job, answer) in next.into_iter().enumerate() {
            assert_eq!(
                answer.await.unwrap(),
                None,
                "job {job} shared the panicking batch"
            );
        }
        assert_eq!(
            batcher.submit(7).await,
            Some(14),
            "the batch after is answered"
        );
    }
}

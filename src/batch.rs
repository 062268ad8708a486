//! Group commit: callers queue jobs; one task handles whatever has queued up meanwhile as one
//! batch and answers each caller.
//!
//! Why: each database statement is a hop between tasks and the connection's thread, and on a
//! busy 2-core machine a hop costs far more than the SQL. Handling webhooks one by one took
//! about seven hops each; a batch of any size takes about six in all.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

/// Jobs of type `J`, each answered with an `R`. `None` when the batch task is gone.
pub struct Batcher<J, R> {
    queue: mpsc::Sender<(J, oneshot::Sender<R>)>,
}

impl<J: Send + 'static, R: Send + 'static> Batcher<J, R> {
    /// Starts the batch task. `handle` gets up to `max` jobs at a time and returns one answer
    /// per job, in order.
    pub fn spawn<F, Fut>(max: usize, handle: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let (queue, mut jobs) = mpsc::channel::<(J, oneshot::Sender<R>)>(max * 4);
        tokio::spawn(async move {
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
                for (reply, answer) in replies.into_iter().zip(handle(work).await) {
                    let _ = reply.send(answer);
                }
            }
        });
        Self { queue }
    }

    pub async fn submit(&self, job: J) -> Option<R> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((job, reply)).await.ok()?;
        answer.await.ok()
    }
}

//! Group commit: callers queue jobs; one task writes whatever has queued up meanwhile in a
//! single transaction and answers each caller.
//!
//! Why: every statement is a hop between tasks and the database connection's thread, and on a
//! busy 2-core machine a hop costs far more than the SQL. One webhook in its own transaction
//! took about six hops; a batch of any size takes five in all, so throughput grows with load.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use super::{StoreError, StoreResult};

type Reply = oneshot::Sender<StoreResult<bool>>;

/// Jobs of type `J`, each answered with `true`/`false` or the batch's error.
pub struct Batcher<J> {
    queue: mpsc::Sender<(J, Reply)>,
}

impl<J: Send + 'static> Batcher<J> {
    /// Starts the writer task. `write` gets up to `max` jobs at a time and returns one answer
    /// per job, in order.
    pub fn spawn<F, Fut>(max: usize, write: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = StoreResult<Vec<bool>>> + Send,
    {
        let (queue, mut jobs) = mpsc::channel::<(J, Reply)>(max * 4);
        tokio::spawn(async move {
            while let Some(first) = jobs.recv().await {
                let mut batch = vec![first];
                while batch.len() < max {
                    match jobs.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let (work, replies): (Vec<J>, Vec<Reply>) = batch.into_iter().unzip();
                metrics::histogram!("store_batch_size").record(work.len() as f64);
                match write(work).await {
                    Ok(answers) => {
                        for (reply, answer) in replies.into_iter().zip(answers) {
                            let _ = reply.send(Ok(answer));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a grouped write failed");
                        let message = e.to_string();
                        for reply in replies {
                            let _ = reply.send(Err(StoreError::Batch(message.clone())));
                        }
                    }
                }
            }
        });
        Self { queue }
    }

    pub async fn submit(&self, job: J) -> StoreResult<bool> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((job, reply))
            .await
            .map_err(|_| StoreError::Batch("the writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Batch("the writer has stopped".into()))?
    }
}

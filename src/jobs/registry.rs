//! Which kinds this binary runs, and which run periodically.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::{Interrupted, Job, JobContext, JobError};

type Outcome = Result<Option<serde_json::Value>, JobError>;
type Handler = Box<dyn Fn(JobContext, &str) -> BoxFuture<'static, Outcome> + Send + Sync>;

struct Entry {
    handler: Handler,
    interrupted: Interrupted,
}

/// A job enqueued once per period.
pub(super) struct Periodic {
    pub kind: &'static str,
    pub period: Duration,
    /// The payload each period's job gets.
    pub payload: String,
    pub max_attempts: i64,
}

/// The kinds of job this binary knows: a kind it does not know is left in the queue for a
/// binary that does (`proxycall jobs list` shows it).
#[derive(Default)]
pub struct Registry {
    kinds: HashMap<&'static str, Entry>,
    pub(super) periodic: Vec<Periodic>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register<J: Job>(mut self) -> Self {
        let handler: Handler = Box::new(|ctx, payload| {
            match serde_json::from_str::<J>(payload) {
                Ok(job) => job.run(ctx).boxed(),
                // An old version's payload, or a hand-edited row: trying again cannot help.
                Err(e) => {
                    let error = format!("the payload does not parse as a {} job: {e}", J::KIND);
                    async move { Err(JobError::Fail(error)) }.boxed()
                }
            }
        });
        self.kinds.insert(
            J::KIND,
            Entry {
                handler,
                interrupted: J::INTERRUPTED,
            },
        );
        self
    }

    /// Registers `J` and enqueues `job` once every `period`, across every process. Periods
    /// are aligned on the Unix epoch, so that every process names the same one.
    pub fn every<J: Job>(self, period: Duration, job: J) -> Self {
        let mut registry = self.register::<J>();
        registry.periodic.push(Periodic {
            kind: J::KIND,
            period,
            payload: serde_json::to_string(&job).expect("a job payload serialises"),
            max_attempts: J::MAX_ATTEMPTS,
        });
        registry
    }

    pub fn knows(&self, kind: &str) -> bool {
        self.kinds.contains_key(kind)
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<&'static str> = self.kinds.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }

    /// Whether jobs of `kind` must not run twice (interrupted or panicked, they fail).
    pub fn is_at_most_once(&self, kind: &str) -> bool {
        self.kinds
            .get(kind)
            .is_some_and(|e| e.interrupted == Interrupted::Fail)
    }

    /// Kinds whose interrupted jobs fail rather than run again.
    pub fn at_most_once(&self) -> Vec<&'static str> {
        let mut kinds: Vec<&'static str> = self
            .kinds
            .iter()
            .filter(|(_, e)| e.interrupted == Interrupted::Fail)
            .map(|(k, _)| *k)
            .collect();
        kinds.sort_unstable();
        kinds
    }

    pub(super) fn run(
        &self,
        kind: &str,
        ctx: JobContext,
        payload: &str,
    ) -> BoxFuture<'static, Outcome> {
        match self.kinds.get(kind) {
            Some(entry) => (entry.handler)(ctx, payload),
            None => {
                let error = format!("no handler for job kind {kind}");
                async move { Err(JobError::Fail(error)) }.boxed()
            }
        }
    }
}

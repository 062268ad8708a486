//! The SQL of `JobStore`, shared by both engines.

macro_rules! job_cols {
    () => {
        "id, kind, payload, status, due_at, attempts, max_attempts, locked_until, last_error, \
         dedupe_key, progress, result, created_at, updated_at, finished_at"
    };
}
pub(crate) use job_cols;

/// Inserts a job, once per dedupe key, on any executor (a pool, or the transaction of the
/// change that calls for it). Evaluates to the new job's id, if one was inserted.
macro_rules! insert_job {
    ($executor:expr, $job:expr, $now:expr) => {{
        let j: &NewJob = $job;
        let id: Option<i64> = sqlx::query_scalar(
            "insert into jobs (kind, payload, status, due_at, attempts, max_attempts, \
             dedupe_key, created_at, updated_at) \
             values ($1, $2, 'queued', $3, 0, $4, $5, $6, $6) \
             on conflict (dedupe_key) do nothing returning id",
        )
        .bind(&j.kind)
        .bind(&j.payload)
        .bind(j.due_at)
        .bind(j.max_attempts)
        .bind(j.dedupe_key.as_deref())
        .bind($now)
        .fetch_optional($executor)
        .await?;
        id
    }};
}
pub(crate) use insert_job;

/// Records job outcomes on a write transaction (see `JobStore::finish_jobs`). Those done
/// without a report — every send that went — take one statement together: a batch of sends
/// ending at once costs the writer one statement, not one each.
macro_rules! finish_jobs_in {
    ($tx:expr, $outcomes:expr, $now:expr) => {{
        let outcomes: &[JobOutcome] = $outcomes;
        let now: DateTime<Utc> = $now;
        let plain = |o: &JobOutcome| matches!(o.end, JobEnd::Done { result: None });
        if outcomes.iter().any(plain) {
            let mut q = sqlx::QueryBuilder::<DbEngine>::new(
                "update jobs set status = 'done', result = null, locked_until = null, \
                 last_error = null, dedupe_key = case when dedupe_key like 'op:%' then null \
                 else dedupe_key end, updated_at = ",
            );
            q.push_bind(now).push(", finished_at = ").push_bind(now);
            // Each job only while that try is the one running.
            q.push(" where status = 'running' and attempts = case id");
            for o in outcomes.iter().filter(|o| plain(o)) {
                q.push(" when ")
                    .push_bind(o.id)
                    .push(" then ")
                    .push_bind(o.attempt);
            }
            q.push(" end and id in (");
            let mut ids = q.separated(", ");
            for o in outcomes.iter().filter(|o| plain(o)) {
                ids.push_bind(o.id);
            }
            q.push(")");
            q.build().execute(&mut *$tx).await?;
        }
        for o in outcomes.iter().filter(|o| !plain(o)) {
            let query = match &o.end {
                JobEnd::Done { result } => sqlx::query(
                    "update jobs set status = 'done', result = $3, locked_until = null, \
                         last_error = null, updated_at = $4, finished_at = $4, \
                         dedupe_key = case when dedupe_key like 'op:%' then null \
                           else dedupe_key end \
                         where id = $1 and attempts = $2 and status = 'running'",
                )
                .bind(o.id)
                .bind(o.attempt)
                .bind(result.clone())
                .bind(now),
                JobEnd::Retry { error, due_at } => sqlx::query(
                    "update jobs set status = 'queued', last_error = $3, due_at = $5, \
                         locked_until = null, updated_at = $4 \
                         where id = $1 and attempts = $2 and status = 'running'",
                )
                .bind(o.id)
                .bind(o.attempt)
                .bind(error.clone())
                .bind(now)
                .bind(*due_at),
                JobEnd::Failed { error } => sqlx::query(
                    "update jobs set status = 'failed', last_error = $3, \
                         locked_until = null, updated_at = $4, finished_at = $4, \
                         dedupe_key = case when dedupe_key like 'op:%' then null \
                           else dedupe_key end \
                         where id = $1 and attempts = $2 and status = 'running'",
                )
                .bind(o.id)
                .bind(o.attempt)
                .bind(error.clone())
                .bind(now),
            };
            query.execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use finish_jobs_in;

/// Implements `JobStore` for a back-end (see `impl_store!`). The back-end supplies
/// `SKIP_LOCKED`: PostgreSQL's `for update skip locked`, so that concurrent claims take
/// different rows; SQLite serialises writers and needs nothing.
macro_rules! impl_job_store {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use sqlx::QueryBuilder;

            use $crate::store::sql::*;
            use $crate::store::*;

            #[async_trait::async_trait]
            impl JobStore for $store {
                async fn enqueue_job(&self, job: &NewJob, now: DateTime<Utc>) -> StoreResult<Option<i64>> {
                    Ok(insert_job!(self.writer(), job, now))
                }

                async fn claim_jobs(
                    &self,
                    kinds: &[&str],
                    now: DateTime<Utc>,
                    lease_until: DateTime<Utc>,
                    limit: i64,
                ) -> StoreResult<Vec<Job>> {
                    if kinds.is_empty() {
                        return Ok(Vec::new());
                    }
                    // The jobs are picked once, in a materialized CTE: as `id in (select …
                    // limit n for update skip locked)`, PostgreSQL may run the sub-select more
                    // than once, each run skipping the rows the last one locked, and claim more
                    // than `limit` jobs (seen: 2 for a limit of 1).
                    let mut claim = QueryBuilder::<DbEngine>::new(
                        "with picked as materialized (select id from jobs \
                         where status = 'queued' and due_at <= ",
                    );
                    claim.push_bind(now).push(" and kind in (");
                    let mut list = claim.separated(", ");
                    for kind in kinds {
                        list.push_bind(kind.to_string());
                    }
                    claim.push(") order by due_at, id limit ").push_bind(limit);
                    claim.push(Self::SKIP_LOCKED);
                    claim.push(
                        ") update jobs set status = 'running', attempts = attempts + 1, \
                         locked_until = ",
                    );
                    claim.push_bind(lease_until).push(", updated_at = ").push_bind(now);
                    claim.push(concat!(
                        " where status = 'queued' and id in (select id from picked) returning ",
                        job_cols!()
                    ));
                    let mut jobs: Vec<Job> = claim
                        .build()
                        .fetch_all(self.writer())
                        .await?
                        .iter()
                        .map(job_from)
                        .collect::<StoreResult<_>>()?;
                    jobs.sort_by_key(|j| (j.due_at, j.id));
                    Ok(jobs)
                }

                async fn finish_jobs(&self, outcomes: &[JobOutcome], now: DateTime<Utc>) -> StoreResult<()> {
                    if outcomes.is_empty() {
                        return Ok(());
                    }
                    // One commit for the outcomes: on PostgreSQL each commit waits for the disk.
                    let mut tx = self.begin_write().await?;
                    finish_jobs_in!(tx, outcomes, now);
                    tx.commit().await?;
                    Ok(())
                }

                async fn job_progress(
                    &self,
                    id: i64,
                    attempt: i64,
                    progress: &str,
                    lease_until: DateTime<Utc>,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "update jobs set progress = $2, locked_until = $3, updated_at = $4 \
                         where id = $1 and attempts = $5 and status = 'running'",
                    )
                    .bind(id)
                    .bind(progress)
                    .bind(lease_until)
                    .bind(now)
                    .bind(attempt)
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn expire_job_leases(
                    &self,
                    now: DateTime<Utc>,
                    known: &[&str],
                    at_most_once: &[&str],
                ) -> StoreResult<ExpiredLeases> {
                    // `''` keeps each list valid when it is empty.
                    let list = |q: &mut QueryBuilder<DbEngine>, kinds: &[&str]| {
                        q.push("(''");
                        for kind in kinds {
                            q.push(", ").push_bind(kind.to_string());
                        }
                        q.push(")");
                    };
                    let mut tx = self.begin_write().await?;
                    let mut fail = QueryBuilder::<DbEngine>::new(
                        "update jobs set status = 'failed', last_error = 'interrupted: its \
                         process stopped mid-run, and running it again could do it twice, or \
                         it had no try left', locked_until = null, updated_at = ",
                    );
                    fail.push_bind(now).push(", finished_at = ").push_bind(now);
                    // An operation's key names the one running: it is freed when it ends.
                    fail.push(
                        ", dedupe_key = case when dedupe_key like 'op:%' then null \
                         else dedupe_key end",
                    );
                    fail.push(" where status = 'running' and locked_until < ").push_bind(now);
                    fail.push(" and kind in ");
                    list(&mut fail, known);
                    fail.push(" and (attempts >= max_attempts or kind in ");
                    list(&mut fail, at_most_once);
                    fail.push(")");
                    let failed = fail.build().execute(&mut *tx).await?.rows_affected();
                    let mut requeue = QueryBuilder::<DbEngine>::new(
                        "update jobs set status = 'queued', locked_until = null, \
                         last_error = 'interrupted: its process stopped mid-run', due_at = ",
                    );
                    requeue.push_bind(now).push(", updated_at = ").push_bind(now);
                    requeue.push(" where status = 'running' and locked_until < ").push_bind(now);
                    requeue.push(" and kind in ");
                    list(&mut requeue, known);
                    let requeued = requeue.build().execute(&mut *tx).await?.rows_affected();
                    tx.commit().await?;
                    Ok(ExpiredLeases { requeued, failed })
                }

                async fn busy_jobs(&self, kinds: &[&str], now: DateTime<Utc>) -> StoreResult<i64> {
                    let mut count = QueryBuilder::<DbEngine>::new(
                        "select count(*) from jobs where (status = 'running' or \
                         (status = 'queued' and due_at <= ",
                    );
                    count.push_bind(now).push(")) and kind in (''");
                    for kind in kinds {
                        count.push(", ").push_bind(kind.to_string());
                    }
                    count.push(")");
                    Ok(count.build_query_scalar().fetch_one(self.reader()).await?)
                }

                async fn job_by_key(&self, key: &str) -> StoreResult<Option<Job>> {
                    sqlx::query(concat!("select ", job_cols!(), " from jobs where dedupe_key = $1"))
                        .bind(key)
                        .fetch_optional(self.reader())
                        .await?
                        .map(|r| job_from(&r))
                        .transpose()
                }

                async fn job(&self, id: i64) -> StoreResult<Option<Job>> {
                    sqlx::query(concat!("select ", job_cols!(), " from jobs where id = $1"))
                        .bind(id)
                        .fetch_optional(self.reader())
                        .await?
                        .as_ref()
                        .map(job_from)
                        .transpose()
                }

                async fn jobs(
                    &self,
                    kind: Option<&str>,
                    status: Option<JobStatus>,
                    limit: i64,
                ) -> StoreResult<Vec<Job>> {
                    sqlx::query(concat!(
                        "select ", job_cols!(), " from jobs \
                         where ($1 is null or kind = $1) and ($2 is null or status = $2) \
                         order by id desc limit $3"
                    ))
                    .bind(kind)
                    .bind(status.map(JobStatus::as_str))
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(job_from)
                    .collect()
                }

                async fn job_counts(&self) -> StoreResult<Vec<JobCount>> {
                    sqlx::query(
                        "select kind, status, count(*) as n, min(due_at) as oldest from jobs \
                         where status in ('queued', 'running', 'failed') \
                         group by kind, status order by kind, status",
                    )
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(JobCount {
                            kind: r.text("kind")?.unwrap_or_default(),
                            status: r
                                .text("status")?
                                .as_deref()
                                .and_then(JobStatus::parse)
                                .ok_or(StoreError::Corrupt { column: "status" })?,
                            count: r.int("n")?.unwrap_or(0),
                            oldest_due_at: r.time("oldest")?,
                        })
                    })
                    .collect()
                }

                async fn jobs_page(
                    &self,
                    kind: Option<&str>,
                    status: Option<JobStatus>,
                    after: Option<i64>,
                    limit: i64,
                ) -> StoreResult<Vec<Job>> {
                    sqlx::query(concat!(
                        "select ", job_cols!(), " from jobs \
                         where id < $1 and ($2 is null or kind = $2) and ($3 is null or status = $3) \
                         order by id desc limit $4"
                    ))
                    .bind(after.unwrap_or(i64::MAX))
                    .bind(kind)
                    .bind(status.map(JobStatus::as_str))
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(job_from)
                    .collect()
                }

                async fn requeue_failed_job(&self, id: i64, now: DateTime<Utc>) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "update jobs set status = 'queued', due_at = $2, attempts = 0, \
                         progress = null, result = null, locked_until = null, finished_at = null, updated_at = $2 \
                         where id = $1 and status = 'failed'",
                    )
                    .bind(id)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn purge_finished_jobs(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    let done = sqlx::query(
                        "delete from jobs where status in ('done', 'failed') and finished_at < $1",
                    )
                    .bind(before)
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}
pub(crate) use impl_job_store;

//! The SQL of `RoutingStore`, shared by both engines.

/// Implements `RoutingStore` for a back-end (see `impl_store!`).
macro_rules! impl_routing_store {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};


            use $crate::domain::*;
            use $crate::store::sql::*;
            use $crate::store::*;

            #[async_trait::async_trait]
            impl RoutingStore for $store {
                // The statements built for a batch differ with its size: they are not kept
                // in the connection's statement cache, where they would push out the fixed
                // statements every request uses.
                async fn routing_facts(
                    &self,
                    proxies: &[E164],
                    senders: &[E164],
                    since: DateTime<Utc>,
                    most: usize,
                ) -> StoreResult<RoutingFacts> {
                    use sqlx::QueryBuilder;

                    fn list(query: &mut QueryBuilder<DbEngine>, numbers: &[E164]) {
                        let mut list = query.separated(", ");
                        for n in numbers {
                            list.push_bind(n.as_str().to_owned());
                        }
                        query.push(")");
                    }
                    // One statement: the proxies' clients, then which numbers are ours (in
                    // the pool and not released, or some client's proxy) among the senders and
                    // the recent contacts of those clients (one that became ours since must
                    // not be dialled or texted). The second part's rows hold only
                    // `our_number`: as many nulls as `client_cols!` has columns.
                    const NO_CLIENT: &str = "select null, null, null, null, null, null, null, \
                         null, null, null, ";
                    if proxies.is_empty() && senders.is_empty() {
                        return Ok(RoutingFacts::default());
                    }
                    let most = i64::try_from(most).unwrap_or(i64::MAX);
                    let mut query = QueryBuilder::<DbEngine>::new("with ");
                    if !proxies.is_empty() {
                        // Each client's `most` newest contacts since `since`: the only ones
                        // routing reaches, however many the client had.
                        query.push(
                            "recent (number) as (select number from (select c.number, \
                             row_number() over (partition by c.client_id \
                             order by c.last_at desc, c.number) as nth \
                             from contacts c join clients k on k.client_id = c.client_id \
                             where c.last_at >= ",
                        );
                        query.push_bind(since).push(" and k.client_proxy_number in (");
                        list(&mut query, proxies);
                        query.push(") r where nth <= ").push_bind(most).push("), ");
                    }
                    // The numbers asked about, as one list: `x in (a, b) or x in (select ...)`
                    // made PostgreSQL scan every client (95 ms with a million of them).
                    query.push("asked (number) as (");
                    if !proxies.is_empty() {
                        query.push("select number from recent");
                    }
                    if !senders.is_empty() {
                        if !proxies.is_empty() {
                            query.push(" union all ");
                        }
                        query.push("values ");
                        let mut values = query.separated(", ");
                        for n in senders {
                            values.push("(").push_bind_unseparated(n.as_str().to_owned());
                            values.push_unseparated(")");
                        }
                    }
                    query.push(") ");
                    if !proxies.is_empty() {
                        query.push(concat!(
                            "select ", client_cols!(), ", null as our_number from clients \
                             where client_proxy_number in ("
                        ));
                        list(&mut query, proxies);
                        query.push(" union all ");
                    }
                    query.push(NO_CLIENT).push(
                        "phone_number as our_number from pool_numbers \
                         where status <> 'released' and phone_number in (select number from asked)",
                    );
                    query.push(" union all ").push(NO_CLIENT).push(
                        "client_proxy_number from clients \
                         where client_proxy_number in (select number from asked)",
                    );
                    let mut facts = RoutingFacts::default();
                    for row in query.build().persistent(false).fetch_all(self.reader()).await? {
                        match Columns::text(&row, "our_number")? {
                            Some(ours) => facts.ours.push(
                                E164::parse_shape(&ours)
                                    .map_err(|_| StoreError::Corrupt { column: "phone_number" })?,
                            ),
                            None => facts.clients.push(client_from(&row)?),
                        }
                    }
                    if facts.clients.is_empty() {
                        return Ok(facts);
                    }
                    // Then their contacts: the `most` recent ones (whom they may reach), and
                    // the senders (one they blocked long ago is still blocked); and each
                    // client's latest order (what a new contact is about), as rows without a
                    // number.
                    fn ids(query: &mut QueryBuilder<DbEngine>, clients: &[Client]) {
                        let mut list = query.separated(", ");
                        for c in clients {
                            list.push_bind(c.id.get());
                        }
                        query.push(")");
                    }
                    const CONTACT: &str =
                        "client_id, number, last_at, last_channel, order_id, blocked_at";
                    let mut query = QueryBuilder::<DbEngine>::new(format!(
                        "select {CONTACT} from (select {CONTACT}, row_number() over \
                         (partition by client_id order by last_at desc, number) as nth \
                         from contacts where client_id in ("
                    ));
                    ids(&mut query, &facts.clients);
                    query.push(" and last_at >= ").push_bind(since);
                    query.push(") r where nth <= ").push_bind(most);
                    if !senders.is_empty() {
                        query.push(format!(
                            " union select {CONTACT} from contacts where client_id in ("
                        ));
                        ids(&mut query, &facts.clients);
                        query.push(" and number in (");
                        list(&mut query, senders);
                    }
                    // One look into the index per client, however many orders it has.
                    query.push(
                        " union all select client_id, null, null, null, latest, null from \
                         (select k.client_id, (select o.order_id from orders o \
                         where o.client_id = k.client_id \
                         order by o.created_at desc, o.order_id desc limit 1) as latest \
                         from clients k where k.client_id in (",
                    );
                    ids(&mut query, &facts.clients);
                    query.push(") l where latest is not null");
                    for row in query.build().persistent(false).fetch_all(self.reader()).await? {
                        match contact_from(&row)? {
                            Some(contact) => facts.contacts.push(contact),
                            None => facts.latest_orders.push(latest_order_from(&row)?),
                        }
                    }
                    Ok(facts)
                }

                async fn blocked_contacts(&self, client: ClientId) -> StoreResult<Vec<Contact>> {
                    let rows = sqlx::query(
                        "select client_id, number, last_at, last_channel, order_id, blocked_at \
                         from contacts where client_id = $1 and blocked_at is not null \
                         order by blocked_at desc, number",
                    )
                    .bind(client.get())
                    .fetch_all(self.reader())
                    .await?;
                    rows.iter()
                        .filter_map(|r| contact_from(r).transpose())
                        .collect()
                }

                async fn set_blocked(
                    &self,
                    client: ClientId,
                    number: &E164,
                    at: Option<DateTime<Utc>>,
                ) -> StoreResult<Option<(Contact, bool)>> {
                    let mut tx = self.begin_write().await?;
                    // Only a change is written: blocking twice keeps the first time.
                    let changed = sqlx::query(
                        "update contacts set blocked_at = $1 where client_id = $2 and number = $3 \
                         and (blocked_at is null) = ($1 is not null)",
                    )
                    .bind(at)
                    .bind(client.get())
                    .bind(number.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        > 0;
                    let row = sqlx::query(
                        "select client_id, number, last_at, last_channel, order_id, blocked_at \
                         from contacts where client_id = $1 and number = $2",
                    )
                    .bind(client.get())
                    .bind(number.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(row.as_ref().map(contact_from).transpose()?.flatten().map(|c| (c, changed)))
                }

                async fn record_routing_batch(&self, jobs: Vec<RoutingJob>) -> StoreResult<BatchWritten> {
                    use std::collections::{HashMap, HashSet};

                    use sqlx::QueryBuilder;

                    let mut answers = vec![false; jobs.len()];
                    // A webhook retried while its first delivery is in the same batch: only the
                    // first goes on.
                    let mut seen = HashSet::new();
                    let candidates: Vec<usize> = (0..jobs.len())
                        .filter(|&i| {
                            let it = &jobs[i].interaction;
                            it.twilio_sid.is_none()
                                || seen.insert((it.channel.as_str(), it.twilio_sid.clone()))
                        })
                        .collect();
                    if candidates.is_empty() {
                        return Ok(BatchWritten::Written(answers));
                    }
                    let mut tx = self.begin_write().await?;

                    let mut insert = QueryBuilder::<DbEngine>::new(
                        "insert into interactions (occurred_at, proxy_number, client_id, direction, \
                         channel, outcome, twilio_sid) ",
                    );
                    insert.push_values(&candidates, |mut row, &i| {
                        let it = &jobs[i].interaction;
                        row.push_bind(it.occurred_at)
                            .push_bind(it.proxy.as_str().to_owned())
                            .push_bind(it.client_id.map(|c| c.get()))
                            .push_bind(it.direction.as_str())
                            .push_bind(it.channel.as_str())
                            .push_bind(it.outcome.as_str())
                            .push_bind(it.twilio_sid.clone());
                    });
                    insert.push(
                        " on conflict (channel, twilio_sid) do nothing returning channel, twilio_sid",
                    );
                    let rows = insert.build().persistent(false).fetch_all(&mut *tx).await?;
                    let mut recorded = HashSet::new();
                    for row in &rows {
                        let channel: String = sqlx::Row::try_get(row, "channel")?;
                        let sid: Option<String> = sqlx::Row::try_get(row, "twilio_sid")?;
                        recorded.insert((channel, sid));
                    }
                    let (new, retried): (Vec<usize>, Vec<usize>) =
                        candidates.into_iter().partition(|&i| {
                            let it = &jobs[i].interaction;
                            it.twilio_sid.is_none()
                                || recorded.contains(&(it.channel.as_str().to_owned(), it.twilio_sid.clone()))
                        });
                    // A retry that later jobs were decided after: they may be wrong. Nothing
                    // is kept (the transaction rolls back when dropped); the engine decides again.
                    let misread: Vec<(Channel, String)> = retried
                        .iter()
                        .filter(|&&i| jobs[i].later_jobs_depend)
                        .filter_map(|&i| {
                            let it = &jobs[i].interaction;
                            Some((it.channel, it.twilio_sid.clone()?))
                        })
                        .collect();
                    if !misread.is_empty() {
                        return Ok(BatchWritten::Retried(misread));
                    }

                    // The latest caller of each client wins; each contact is written once,
                    // as it was last seen.
                    let mut last: HashMap<i64, String> = HashMap::new();
                    let mut seen: HashMap<(i64, &str), (&ContactSeen, DateTime<Utc>)> =
                        HashMap::new();
                    for &i in &new {
                        if let Some(contact) = &jobs[i].new_last_caller {
                            let client = contact.client_id.get();
                            last.insert(client, contact.number.as_str().to_owned());
                            seen.insert(
                                (client, contact.number.as_str()),
                                (contact, jobs[i].interaction.occurred_at),
                            );
                        }
                    }
                    if !seen.is_empty() {
                        let mut upsert = QueryBuilder::<DbEngine>::new(
                            "insert into contacts (client_id, number, last_at, last_channel, \
                             order_id) ",
                        );
                        upsert.push_values(seen.values(), |mut row, (c, at)| {
                            row.push_bind(c.client_id.get())
                                .push_bind(c.number.as_str().to_owned())
                                .push_bind(*at)
                                .push_bind(c.channel.as_str())
                                .push_bind(c.order_id.as_ref().map(|o| o.as_str().to_owned()));
                        });
                        upsert.push(
                            " on conflict (client_id, number) do update set \
                             last_at = excluded.last_at, last_channel = excluded.last_channel, \
                             order_id = coalesce(excluded.order_id, contacts.order_id)",
                        );
                        upsert.build().persistent(false).execute(&mut *tx).await?;
                    }
                    for &i in &new {
                        if let Some(b) = &jobs[i].block {
                            sqlx::query(
                                // Blocking again keeps the first time, as the API does.
                                "update contacts set blocked_at = \
                                 case when $1 is null then null else coalesce(blocked_at, $1) end \
                                 where client_id = $2 and number = $3",
                            )
                            .bind(b.blocked.then_some(jobs[i].interaction.occurred_at))
                            .bind(b.client_id.get())
                            .bind(b.number.as_str())
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                    if !last.is_empty() {
                        let mut update = QueryBuilder::<DbEngine>::new(
                            "update clients set client_last_caller = case client_id",
                        );
                        for (client, caller) in &last {
                            update.push(" when ").push_bind(*client).push(" then ").push_bind(caller.clone());
                        }
                        update.push(" end, updated_at = ").push_bind(chrono::Utc::now());
                        update.push(" where client_id in (");
                        let mut ids = update.separated(", ");
                        for client in last.keys() {
                            ids.push_bind(*client);
                        }
                        update.push(")");
                        update.build().persistent(false).execute(&mut *tx).await?;
                    }

                    // Stop and start words, in the batch's order.
                    for &i in &new {
                        let Some(change) = &jobs[i].guard.opt_out else { continue };
                        let statement = if change.out {
                            "insert into opt_outs (proxy_number, number, created_at) \
                             values ($1, $2, $3) on conflict (proxy_number, number) do nothing"
                        } else {
                            "delete from opt_outs where proxy_number = $1 and number = $2"
                        };
                        let mut query = sqlx::query(statement)
                            .bind(change.proxy.as_str())
                            .bind(change.number.as_str());
                        if change.out {
                            query = query.bind(chrono::Utc::now());
                        }
                        query.execute(&mut *tx).await?;
                    }

                    // A message held for the client's quiet hours is due when they end.
                    for &i in &new {
                        if let (Some(m), Some(hold)) = (&jobs[i].outbound, jobs[i].hold_until) {
                            insert_outbound!(tx, m, hold, chrono::Utc::now());
                        }
                    }
                    let outbound: Vec<&NewOutbound> = new
                        .iter()
                        .flat_map(|&i| {
                            let held = jobs[i].hold_until.is_some();
                            jobs[i]
                                .outbound
                                .iter()
                                .filter(move |_| !held)
                                .chain(&jobs[i].guard.notice)
                        })
                        .collect();
                    if !outbound.is_empty() {
                        let now = chrono::Utc::now();
                        let mut insert = QueryBuilder::<DbEngine>::new(
                            "insert into outbound_messages (kind, purpose, from_number, to_number, \
                             body, url, dedupe_key, status, attempts, created_at, updated_at, \
                             relay_of, media) ",
                        );
                        insert.push_values(&outbound, |mut row, m| {
                            let relay = m.relay.as_ref();
                            row.push_bind(m.kind.as_str())
                                .push_bind(m.purpose)
                                .push_bind(m.from.as_str().to_owned())
                                .push_bind(m.to.as_str().to_owned())
                                .push_bind(m.body.clone())
                                .push_bind(m.url.clone())
                                .push_bind(m.dedupe_key.clone())
                                .push_bind("pending")
                                .push_bind(0_i64)
                                .push_bind(now)
                                .push_bind(now)
                                .push_bind(relay.map(|r| r.sender.as_str().to_owned()))
                                .push_bind(relay.and_then(|r| $crate::domain::join_media(&r.media)));
                        });
                        insert.push(" on conflict (dedupe_key) do nothing returning id");
                        let ids: Vec<i64> =
                            insert.build_query_scalar().persistent(false).fetch_all(&mut *tx).await?;
                        // Each message's sending job, in the same transaction.
                        let mut send = QueryBuilder::<DbEngine>::new(
                            "insert into jobs (kind, payload, status, due_at, attempts, max_attempts, \
                             dedupe_key, created_at, updated_at) ",
                        );
                        if !ids.is_empty() {
                            send.push_values(ids.iter().map(|&id| send_job(id, now)), |mut row, j| {
                                row.push_bind(j.kind)
                                    .push_bind(j.payload)
                                    .push_bind("queued")
                                    .push_bind(j.due_at)
                                    .push_bind(0_i64)
                                    .push_bind(j.max_attempts)
                                    .push_bind(j.dedupe_key)
                                    .push_bind(now)
                                    .push_bind(now);
                            });
                            send.push(" on conflict (dedupe_key) do nothing");
                            send.build().persistent(false).execute(&mut *tx).await?;
                        }
                    }
                    tx.commit().await?;
                    for i in new {
                        answers[i] = true;
                    }
                    Ok(BatchWritten::Written(answers))
                }

                async fn opt_outs(&self, proxies: &[E164]) -> StoreResult<Vec<(E164, E164)>> {
                    let mut query = sqlx::QueryBuilder::<DbEngine>::new(
                        "select proxy_number, number from opt_outs where proxy_number in (",
                    );
                    let mut list = query.separated(", ");
                    for p in proxies {
                        list.push_bind(p.as_str().to_owned());
                    }
                    query.push(")");
                    let parse = |raw: String, column| {
                        E164::parse_shape(&raw).map_err(|_| StoreError::Corrupt { column })
                    };
                    query
                        .build_query_as::<(String, String)>()
                        .persistent(false)
                        .fetch_all(self.reader())
                        .await?
                        .into_iter()
                        .map(|(proxy, number)| {
                            Ok((parse(proxy, "proxy_number")?, parse(number, "number")?))
                        })
                        .collect()
                }

                async fn interactions(&self, limit: i64) -> StoreResult<Vec<Interaction>> {
                    sqlx::query(
                        "select id, occurred_at, proxy_number, client_id, direction, channel, \
                         outcome, twilio_sid from interactions order by id desc limit $1",
                    )
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(interaction_from)
                    .collect()
                }

                async fn purge_interactions(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query("delete from interactions where occurred_at < $1")
                        .bind(before)
                        .execute(&mut *tx)
                        .await?;
                    // A correspondent is personal data too; a block is the client's choice,
                    // kept until they lift it.
                    sqlx::query("delete from contacts where last_at < $1 and blocked_at is null")
                        .bind(before)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(done.rows_affected())
                }

                async fn secret(&self, name: &str, candidate: &str) -> StoreResult<String> {
                    sqlx::query(
                        "insert into app_secrets (name, value, created_at) values ($1, $2, $3) \
                         on conflict (name) do nothing",
                    )
                    .bind(name)
                    .bind(candidate)
                    .bind(Utc::now())
                    .execute(self.writer())
                    .await?;
                    Ok(
                        sqlx::query_scalar("select value from app_secrets where name = $1")
                            .bind(name)
                            .fetch_one(self.writer())
                            .await?,
                    )
                }

                async fn existing_secret(&self, name: &str) -> StoreResult<Option<String>> {
                    Ok(sqlx::query_scalar("select value from app_secrets where name = $1")
                        .bind(name)
                        .fetch_optional(self.reader())
                        .await?)
                }

                async fn record_simulated_delivery(
                    &self,
                    d: &SimulatedDelivery,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "insert into simulated_deliveries (kind, from_number, to_number, body, \
                         url, sid, delivered_at, media) values ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(&d.kind)
                    .bind(d.from.as_str())
                    .bind(d.to.as_str())
                    .bind(d.body.as_deref())
                    .bind(d.url.as_deref())
                    .bind(&d.sid)
                    .bind(d.delivered_at)
                    .bind($crate::domain::join_media(&d.media))
                    .execute(self.writer())
                    .await?;
                    Ok(())
                }

                async fn simulated_deliveries(
                    &self,
                    to: Option<&E164>,
                    limit: i64,
                ) -> StoreResult<Vec<SimulatedDelivery>> {
                    sqlx::query(
                        "select kind, from_number, to_number, body, url, sid, delivered_at, \
                         media from simulated_deliveries where ($1 is null or to_number = $1) \
                         order by id desc limit $2",
                    )
                    .bind(to.map(E164::as_str))
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(delivery_from)
                    .collect()
                }

                async fn interaction_page(
                    &self,
                    filter: &InteractionFilter,
                    before: Option<i64>,
                    limit: i64,
                ) -> StoreResult<Vec<ListedInteraction>> {
                    let mut q = sqlx::QueryBuilder::<DbEngine>::new(
                        "select i.id, i.occurred_at, i.proxy_number, i.client_id, i.direction, \
                         i.channel, i.outcome, i.twilio_sid, c.client_name, c.client_real_phone \
                         from interactions i left join clients c on c.client_id = i.client_id \
                         where 1 = 1",
                    );
                    if let Some(proxy) = &filter.proxy {
                        q.push(" and i.proxy_number = ").push_bind(proxy.as_str().to_owned());
                    }
                    if let Some(channel) = filter.channel {
                        // Not through the SID's index, which starts with the channel: SQLite
                        // would then sort half the table; the time's index reads in order.
                        q.push(" and i.channel || '' = ").push_bind(channel.as_str());
                    }
                    if let Some(outcome) = filter.outcome {
                        q.push(" and i.outcome = ").push_bind(outcome.as_str());
                    }
                    if let Some(from) = filter.from {
                        q.push(" and i.occurred_at >= ").push_bind(from);
                    }
                    if let Some(until) = filter.until {
                        q.push(" and i.occurred_at < ").push_bind(until);
                    }
                    if let Some(before) = before {
                        // The cursor's time is read by the database, in its own type: the
                        // first term keeps the read on the index, the second breaks ties.
                        const AT: &str =
                            "(select b.occurred_at from interactions b where b.id = ";
                        q.push(" and i.occurred_at <= ").push(AT).push_bind(before);
                        q.push(") and (i.occurred_at < ").push(AT).push_bind(before);
                        q.push(") or i.id < ").push_bind(before).push(")");
                    }
                    q.push(" order by i.occurred_at desc, i.id desc limit ")
                        .push_bind(limit);
                    q.build()
                        .fetch_all(self.reader())
                        .await?
                        .iter()
                        .map(|r| {
                            // Imported sheets left blanks.
                            let phone = Columns::text(r, "client_real_phone")?
                                .filter(|p| !p.trim().is_empty())
                                .map(|p| {
                                    E164::parse_shape(&p).map_err(|_| StoreError::Corrupt {
                                        column: "client_real_phone",
                                    })
                                })
                                .transpose()?;
                            Ok(ListedInteraction {
                                interaction: interaction_from(r)?,
                                client_name: Columns::text(r, "client_name")?,
                                client_phone: phone,
                            })
                        })
                        .collect()
                }
            }
        };
    };
}
pub(crate) use impl_routing_store;

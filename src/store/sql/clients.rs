//! The SQL of `ClientStore`, shared by both engines.

/// Implements `ClientStore` for a back-end (see `impl_store!`).
macro_rules! impl_clients_store {
    ($store:ty) => {
        const _: () = {
            use chrono::Utc;

            use $crate::domain::*;
            use $crate::store::sql::*;
            use $crate::store::*;

            /// The first string after every one that starts with `prefix` (its last character
            /// moved up by one): the open end of the prefix's range. `None` when there is none.
            fn prefix_end(prefix: &str) -> Option<String> {
                let mut chars: Vec<char> = prefix.chars().collect();
                while let Some(last) = chars.pop() {
                    if let Some(next) = char::from_u32(last as u32 + 1) {
                        chars.push(next);
                        return Some(chars.into_iter().collect());
                    }
                }
                None
            }

            /// A prefix as a range of the index's values, `expr >= lo and expr < hi`, which
            /// both engines answer from a b-tree index; the `substr` check keeps out what a
            /// collation other than the code points' might sort into the range.
            fn prefix_range(q: &mut sqlx::QueryBuilder<DbEngine>, expr: &'static str, prefix: &str) {
                q.push(expr).push(" >= ").push_bind(prefix.to_owned());
                if let Some(end) = prefix_end(prefix) {
                    q.push(" and ").push(expr).push(" < ").push_bind(end);
                }
                q.push(" and substr(")
                    .push(expr)
                    .push(", 1, ")
                    .push_bind(i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX))
                    .push(") = ")
                    .push_bind(prefix.to_owned());
            }

            /// The statement of a search's page. Each kind is one indexed lookup; the page is
            /// a range of ids, so no row before it is read.
            fn search_query(
                search: &ClientSearch,
                page: IdPage,
                limit: i64,
            ) -> sqlx::QueryBuilder<DbEngine> {
                let mut q = sqlx::QueryBuilder::<DbEngine>::new(concat!(
                    "select ", client_cols!(), " from clients where 1 = 1"
                ));
                match search {
                    ClientSearch::All => {}
                    ClientSearch::Id(id) => {
                        q.push(" and client_id = ").push_bind(id.get());
                    }
                    ClientSearch::EmailPrefix(prefix) => {
                        q.push(" and ");
                        prefix_range(&mut q, "client_mail", prefix);
                    }
                    ClientSearch::Phone(phone) => {
                        q.push(" and (client_real_phone = ")
                            .push_bind(phone.as_str().to_owned())
                            .push(" or client_proxy_number = ")
                            .push_bind(phone.as_str().to_owned())
                            .push(")");
                    }
                    ClientSearch::NamePrefix(typed) => {
                        // SQLite's `lower` folds ASCII letters only, PostgreSQL's every letter:
                        // a name with a capital `É` is found by either folding of what was
                        // typed, each a range of the same index.
                        let (full, ascii) = (typed.to_lowercase(), typed.to_ascii_lowercase());
                        q.push(" and (");
                        prefix_range(&mut q, "lower(client_name)", &full);
                        if ascii != full {
                            q.push(" or ");
                            prefix_range(&mut q, "lower(client_name)", &ascii);
                        }
                        q.push(")");
                    }
                }
                let order = match page {
                    IdPage::First => " order by client_id desc",
                    IdPage::Before(id) => {
                        q.push(" and client_id < ").push_bind(id);
                        " order by client_id desc"
                    }
                    IdPage::After(id) => {
                        q.push(" and client_id > ").push_bind(id);
                        " order by client_id asc"
                    }
                };
                q.push(order).push(" limit ").push_bind(limit);
                q
            }

            #[async_trait::async_trait]
            impl ClientStore for $store {
            async fn next_client_id(&self) -> StoreResult<i64> {
                let max: Option<i64> = sqlx::query_scalar("select max(client_id) from clients")
                    .fetch_one(self.reader())
                    .await?;
                Ok(max.unwrap_or(0) + 1)
            }

            async fn client(&self, id: ClientId) -> StoreResult<Option<Client>> {
                sqlx::query(concat!("select ", client_cols!(), " from clients where client_id = $1"))
                    .bind(id.get())
                    .fetch_optional(self.reader())
                    .await?
                    .map(|r| client_from(&r))
                    .transpose()
            }

            async fn client_by_proxy(&self, proxy: &E164) -> StoreResult<Option<Client>> {
                sqlx::query(concat!(
                    "select ", client_cols!(), " from clients where client_proxy_number = $1"
                ))
                .bind(proxy.as_str())
                .fetch_optional(self.reader())
                .await?
                .map(|r| client_from(&r))
                .transpose()
            }

            async fn is_client_phone(&self, phone: &E164) -> StoreResult<bool> {
                let found: Option<i64> = sqlx::query_scalar(
                    "select client_id from clients where client_real_phone = $1 limit 1",
                )
                .bind(phone.as_str())
                .fetch_optional(self.reader())
                .await?;
                Ok(found.is_some())
            }

            async fn insert_client(
                &self,
                client: &NewClient,
                pick: Option<&ProxyPick>,
            ) -> StoreResult<Option<Client>> {
                let mut tx = self.begin_write().await?;
                let exists: Option<i64> =
                    sqlx::query_scalar("select client_id from clients where client_id = $1")
                        .bind(client.id.get())
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_some() {
                    return Err(StoreError::Conflict(Conflict::ClientExists));
                }
                let now = Utc::now();
                let mut proxy = None;
                if let Some(pick) = pick {
                    for number_type in &pick.types {
                        let row = claim_number!(&mut *tx, now, client.id, pick, number_type);
                        if let Some(row) = row {
                            proxy = Some(pool_from(&row)?.phone_number);
                            break;
                        }
                    }
                    if proxy.is_none() {
                        return Ok(None);
                    }
                }
                let row = sqlx::query(concat!(
                    "insert into clients (client_id, client_name, client_mail, \
                     client_real_phone, client_proxy_number, client_iso_residency, \
                     client_country_code, created_at, updated_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $8) returning ",
                    client_cols!()
                ))
                .bind(client.id.get())
                .bind(client.name.as_str())
                .bind(client.mail.as_str())
                .bind(client.real_phone.as_str())
                .bind(proxy.as_ref().map(E164::as_str))
                .bind(client.iso_residency.as_ref().map(CountryIso::as_str))
                .bind(client.country_code.as_deref())
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| on_unique(e, Conflict::ClientExists))?;
                let created = client_from(&row)?;
                tx.commit().await?;
                Ok(Some(created))
            }

            async fn attach_proxy(
                &self,
                id: ClientId,
                pick: &ProxyPick,
            ) -> StoreResult<Option<Client>> {
                let mut tx = self.begin_write().await?;
                let now = Utc::now();
                for number_type in &pick.types {
                    let row = claim_number!(&mut *tx, now, id, pick, number_type);
                    let Some(row) = row else { continue };
                    let number = pool_from(&row)?.phone_number;
                    // Only a client still without a proxy takes it: a concurrent request may
                    // have been first, and then this claim is rolled back.
                    let updated = sqlx::query(concat!(
                        "update clients set client_proxy_number = $1, updated_at = $2 \
                         where client_id = $3 and client_proxy_number is null returning ",
                        client_cols!()
                    ))
                    .bind(number.as_str())
                    .bind(now)
                    .bind(id.get())
                    .fetch_optional(&mut *tx)
                    .await?;
                    return match updated {
                        Some(row) => {
                            let client = client_from(&row)?;
                            tx.commit().await?;
                            Ok(Some(client))
                        }
                        None => {
                            tx.rollback().await?;
                            self.client(id).await?.ok_or(StoreError::NotFound).map(Some)
                        }
                    };
                }
                Ok(None)
            }

            async fn update_client(&self, id: ClientId, patch: &ClientPatch) -> StoreResult<Client> {
                let mut tx = self.begin_write().await?;
                let current = sqlx::query(concat!(
                    "select ", client_cols!(), " from clients where client_id = $1"
                ))
                .bind(id.get())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| client_from(&r))
                .transpose()?
                .ok_or(StoreError::NotFound)?;
                let now = Utc::now();
                if let Some(proxy) = patch.proxy.as_ref().filter(|p| Some(*p) != current.proxy.as_ref()) {
                    let owner: Option<i64> = sqlx::query_scalar(
                        "select client_id from clients where client_proxy_number = $1",
                    )
                    .bind(proxy.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(owner) = owner {
                        return Err(StoreError::Conflict(Conflict::ProxyTaken {
                            owner: ClientId::new(owner).ok(),
                        }));
                    }
                    let pooled = sqlx::query(concat!(
                        "select ", pool_cols!(), " from pool_numbers where phone_number = $1"
                    ))
                    .bind(proxy.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| pool_from(&r))
                    .transpose()?;
                    if let Some(pooled) = pooled {
                        // The carrier no longer lists it: nobody is given it.
                        if pooled.status == PoolStatus::Missing {
                            return Err(StoreError::Conflict(Conflict::NumberMissing));
                        }
                        let held_by_other = match pooled.status {
                            PoolStatus::Available | PoolStatus::Released | PoolStatus::Missing => {
                                false
                            }
                            PoolStatus::Assigned | PoolStatus::Reserved | PoolStatus::Draining => {
                                pooled.holder() != Some(id)
                            }
                        };
                        if held_by_other {
                            return Err(StoreError::Conflict(Conflict::ProxyTaken {
                                owner: pooled.holder(),
                            }));
                        }
                        // Keep the pool's view in step with the client's.
                        sqlx::query(
                            "update pool_numbers set status = 'assigned', \
                             assigned_at = coalesce(assigned_at, $1), owner_client_id = $2, \
                             attribution_to_client_name = $3, reserved_token = null, \
                             reserved_at = null, reserved_by_client_id = null \
                             where phone_number = $4",
                        )
                        .bind(now)
                        .bind(id.get())
                        .bind(patch.name.as_ref().unwrap_or(&current.name).as_str())
                        .bind(proxy.as_str())
                        .execute(&mut *tx)
                        .await?;
                    }
                    // The old proxy goes back to the pool, kept from other clients for the
                    // cool-off.
                    if let (Some(old), Some(until)) =
                        (&current.proxy, patch.old_proxy_cooloff_until)
                    {
                        sqlx::query(
                            "update pool_numbers set status = 'available', \
                             owner_client_id = null, attribution_to_client_name = null, \
                             assigned_at = null, cooloff_until = $2 \
                             where phone_number = $1 and status = 'assigned' \
                             and owner_client_id = $3",
                        )
                        .bind(old.as_str())
                        .bind(until)
                        .bind(id.get())
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                let row = sqlx::query(concat!(
                    "update clients set client_name = coalesce($1, client_name), \
                     client_mail = coalesce($2, client_mail), \
                     client_real_phone = coalesce($3, client_real_phone), \
                     client_proxy_number = coalesce($4, client_proxy_number), updated_at = $5, \
                     client_country_code = coalesce($7, client_country_code) \
                     where client_id = $6 returning ",
                    client_cols!()
                ))
                .bind(patch.name.as_ref().map(ClientName::as_str))
                .bind(patch.mail.as_ref().map(Email::as_str))
                .bind(patch.real_phone.as_ref().map(E164::as_str))
                .bind(patch.proxy.as_ref().map(E164::as_str))
                .bind(now)
                .bind(id.get())
                .bind(patch.country_code.as_deref())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| on_unique(e, Conflict::ProxyTaken { owner: None }))?;
                let updated = client_from(&row)?;
                tx.commit().await?;
                Ok(updated)
            }

            async fn order(&self, id: &OrderId) -> StoreResult<Option<(Order, Option<E164>)>> {
                sqlx::query(
                    "select o.order_id, o.client_id, o.created_at, c.client_proxy_number \
                     from orders o left join clients c on c.client_id = o.client_id \
                     where o.order_id = $1",
                )
                .bind(id.as_str())
                .fetch_optional(self.reader())
                .await?
                .map(|r| Ok((order_from(&r)?, phone(&r, "client_proxy_number")?)))
                .transpose()
            }

            async fn clients_page(
                &self,
                search: &ClientSearch,
                page: IdPage,
                limit: i64,
            ) -> StoreResult<Vec<Client>> {
                let mut query = search_query(search, page, limit);
                let mut clients = query
                    .build()
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(client_from)
                    .collect::<StoreResult<Vec<_>>>()?;
                // A page after an id was read upwards, nearest first: shown highest first.
                if matches!(page, IdPage::After(_)) {
                    clients.reverse();
                }
                Ok(clients)
            }

            async fn client_orders(&self, id: ClientId, limit: i64) -> StoreResult<Vec<Order>> {
                sqlx::query(
                    "select order_id, client_id, created_at from orders where client_id = $1 \
                     order by created_at desc, order_id desc limit $2",
                )
                .bind(id.get())
                .bind(limit)
                .fetch_all(self.reader())
                .await?
                .iter()
                .map(order_from)
                .collect()
            }

            async fn client_activations(
                &self,
                phone: &E164,
                mail: &Email,
                limit: i64,
            ) -> StoreResult<Vec<Activation>> {
                sqlx::query(concat!(
                    "select ", activation_cols!(), " from activations \
                     where client_real_phone = $1 or client_mail = $2 \
                     order by created_at desc limit $3"
                ))
                .bind(phone.as_str())
                .bind(mail.as_str())
                .bind(limit)
                .fetch_all(self.reader())
                .await?
                .iter()
                .map(activation_from)
                .collect()
            }

            async fn client_interactions(
                &self,
                id: ClientId,
                limit: i64,
            ) -> StoreResult<Vec<Interaction>> {
                sqlx::query(
                    "select id, occurred_at, proxy_number, client_id, direction, channel, \
                     outcome, twilio_sid from interactions where client_id = $1 \
                     order by id desc limit $2",
                )
                .bind(id.get())
                .bind(limit)
                .fetch_all(self.reader())
                .await?
                .iter()
                .map(interaction_from)
                .collect()
            }

            async fn give_back_proxy(
                &self,
                id: ClientId,
                cooloff_until: chrono::DateTime<Utc>,
            ) -> StoreResult<Option<E164>> {
                let mut tx = self.begin_write().await?;
                let current = sqlx::query(concat!(
                    "select ", client_cols!(), " from clients where client_id = $1"
                ))
                .bind(id.get())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| client_from(&r))
                .transpose()?
                .ok_or(StoreError::NotFound)?;
                let Some(proxy) = current.proxy else {
                    return Ok(None);
                };
                // Only the proxy just read: one changed meanwhile (PostgreSQL reads without a
                // lock) is the other change's to free, and this one gives nothing back.
                let taken = sqlx::query(
                    "update clients set client_proxy_number = null, updated_at = $1 \
                     where client_id = $2 and client_proxy_number = $3",
                )
                .bind(Utc::now())
                .bind(id.get())
                .bind(proxy.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if taken == 0 {
                    return Ok(None);
                }
                // As when a proxy is changed (`update_client`): free, but kept from other
                // clients for the cool-off. A draining number is on its way out: it stays so.
                sqlx::query(
                    "update pool_numbers set \
                     status = case when status = 'assigned' then 'available' else status end, \
                     owner_client_id = null, attribution_to_client_name = null, \
                     assigned_at = null, cooloff_until = $2 \
                     where phone_number = $1 and status in ('assigned', 'draining') \
                     and owner_client_id = $3",
                )
                .bind(proxy.as_str())
                .bind(cooloff_until)
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(proxy))
            }

            async fn insert_order(&self, id: &OrderId, client: ClientId) -> StoreResult<Order> {
                let row = sqlx::query(
                    "insert into orders (order_id, client_id, created_at) values ($1, $2, $3) \
                     returning order_id, client_id, created_at",
                )
                .bind(id.as_str())
                .bind(client.get())
                .bind(Utc::now())
                .fetch_one(self.writer())
                .await
                .map_err(|e| on_unique(e, Conflict::OrderExists))?;
                order_from(&row)
            }
            }
        };
    };
}
pub(crate) use impl_clients_store;

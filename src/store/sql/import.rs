//! The SQL of `ImportStore`, shared by both engines.

/// Implements `ImportStore` for a back-end (see `impl_store!`).
macro_rules! impl_import_store {
    ($store:ty) => {
        const _: () = {
            use chrono::Utc;

            use $crate::domain::*;
            use $crate::store::sql::*;
            use $crate::store::*;

            fn count(added: u64) -> ImportCount {
                ImportCount {
                    imported: added,
                    already_present: 1 - added,
                }
            }

            fn sum(a: ImportCount, b: ImportCount) -> ImportCount {
                ImportCount {
                    imported: a.imported + b.imported,
                    already_present: a.already_present + b.already_present,
                }
            }

            #[async_trait::async_trait]
            impl ImportStore for $store {
                async fn import_sheets(
                    &self,
                    set: &ImportSet,
                    dry_run: bool,
                ) -> StoreResult<ImportCounts> {
                    let now = Utc::now();
                    let mut counts = ImportCounts::default();
                    let mut tx = self.begin_write().await?;
                    // Pool first: the clients' proxies name its rows.
                    for n in &set.pool {
                        let (owner, reserved_by) = match n.status {
                            PoolStatus::Reserved => (None, n.holder),
                            _ => (n.holder, None),
                        };
                        let added = sqlx::query(
                            "insert into pool_numbers (phone_number, country_iso, number_type, \
                             voice_capable, sms_capable, status, friendly_name, purchased_at, \
                             assigned_at, attribution_to_client_name, reserved_token, \
                             reserved_at, reserved_by_client_id, owner_client_id) \
                             values ($1, $2, $3, true, true, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                             on conflict (phone_number) do nothing",
                        )
                        .bind(n.phone_number.as_str())
                        .bind(n.country_iso.as_str())
                        .bind(n.number_type.as_str())
                        .bind(n.status.as_str())
                        .bind(n.friendly_name.as_deref())
                        .bind(n.purchased_at)
                        .bind(n.assigned_at)
                        .bind(n.attribution_to_client_name.as_deref())
                        .bind(n.reserved_token.as_deref())
                        .bind(n.reserved_at)
                        .bind(reserved_by.map(ClientId::get))
                        .bind(owner.map(ClientId::get))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        counts.pool = sum(counts.pool, count(added));
                    }
                    for c in &set.clients {
                        // Keyed by id only: a proxy another stored client has is a unique
                        // violation that fails the set, never a row silently skipped.
                        let added = sqlx::query(
                            "insert into clients (client_id, client_name, client_mail, \
                             client_real_phone, client_proxy_number, client_iso_residency, \
                             client_country_code, client_last_caller, created_at, updated_at) \
                             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
                             on conflict (client_id) do nothing",
                        )
                        .bind(c.id.get())
                        .bind(c.name.as_str())
                        .bind(c.mail.as_str())
                        .bind(c.real_phone.as_str())
                        .bind(c.proxy.as_ref().map(E164::as_str))
                        .bind(c.iso_residency.as_ref().map(CountryIso::as_str))
                        .bind(c.country_code.as_deref())
                        .bind(c.last_caller.as_ref().map(E164::as_str))
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| on_unique(e, Conflict::ProxyTaken { owner: None }))?
                        .rows_affected();
                        counts.clients = sum(counts.clients, count(added));
                        // The sheet's last caller stays reachable for a contact window from
                        // the import, as a recent contact (issue 12).
                        if let Some(last) = c.last_caller.as_ref().filter(|_| added > 0) {
                            sqlx::query(
                                "insert into contacts (client_id, number, last_at) \
                                 values ($1, $2, $3) on conflict (client_id, number) do nothing",
                            )
                            .bind(c.id.get())
                            .bind(last.as_str())
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                    for a in &set.activations {
                        // An ended one gives its reservation back through the expiry sweep.
                        let ended_at = (!a.status.is_waiting() && !a.status.is_confirmed())
                            .then_some(now);
                        let added = sqlx::query(
                            "insert into activations (pending_id, client_name, client_mail, \
                             client_real_phone, country_iso, number_type, proxy_number, \
                             reserved, status, created_at, updated_at, verified_at, ended_at) \
                             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                             on conflict (pending_id) do nothing",
                        )
                        .bind(a.pending_id.as_str())
                        .bind(a.name.as_str())
                        .bind(a.mail.as_str())
                        .bind(a.phone.as_str())
                        .bind(a.country.as_str())
                        .bind(a.number_type.as_str())
                        .bind(a.proxy.as_str())
                        .bind(a.reserved)
                        .bind(a.status.as_str())
                        .bind(a.created_at)
                        .bind(now)
                        .bind(a.verified_at)
                        .bind(ended_at)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        counts.pending = sum(counts.pending, count(added));
                    }
                    if dry_run {
                        tx.rollback().await?;
                    } else {
                        tx.commit().await?;
                    }
                    Ok(counts)
                }
            }
        };
    };
}
pub(crate) use impl_import_store;

//! Use cases: what the HTTP handlers and the command line ask for, on domain types. This
//! layer decides; the store persists; neither knows about HTTP.

pub mod clients;
pub mod keys;
pub mod orders;
pub mod pool;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::{CountryIso, NumberType};
use crate::store::{PoolStatus, Store, StoreError};

/// The application's shared handles.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
}

impl App {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// Input that parsed but cannot be used (e.g. no country can be derived).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("no available number for {country} ({wanted})")]
    PoolExhausted {
        country: CountryIso,
        wanted: String,
        available: PoolBreakdown,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type AppResult<T> = Result<T, AppError>;

/// Available numbers of one country by type, with the total: what an operator needs to see
/// when the pool cannot serve a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PoolBreakdown {
    #[serde(flatten)]
    pub by_type: BTreeMap<&'static str, i64>,
    pub total: i64,
}

impl PoolBreakdown {
    pub async fn available(store: &dyn Store, country: CountryIso) -> AppResult<Self> {
        let mut by_type: BTreeMap<&'static str, i64> =
            NumberType::ALL.iter().map(|t| (t.as_str(), 0)).collect();
        for c in store.pool_counts().await? {
            if c.country_iso == country && c.status == PoolStatus::Available {
                *by_type.entry(c.number_type.as_str()).or_default() += c.count;
            }
        }
        let total = by_type.values().sum();
        Ok(Self { by_type, total })
    }
}

pub(crate) async fn pool_exhausted(
    store: &dyn Store,
    country: CountryIso,
    types: &[NumberType],
) -> AppError {
    let wanted: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    match PoolBreakdown::available(store, country).await {
        Ok(available) => AppError::PoolExhausted {
            country,
            wanted: wanted.join(" or "),
            available,
        },
        Err(e) => e,
    }
}

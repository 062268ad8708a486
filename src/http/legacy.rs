//! How the earlier version wrote values into JSON: absent as `""`, dates as ISO 8601 UTC.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn text<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

pub fn timestamp(value: Option<DateTime<Utc>>) -> String {
    value
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

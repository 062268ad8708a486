//! The move from the Google Sheets version (API-COMPAT §7): the CSV exports of `Clients`,
//! `TwilioPools` and `CONFIRMATION_PENDING` parsed row by row into domain types, checked as a
//! set, then written in one transaction (`ImportStore::import_sheets`), each row only when
//! absent, so that a second run imports nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;

use super::{App, AppError, AppResult};
use crate::domain::{
    ActivationStatus, ClientId, ClientName, CountryIso, E164, Email, NumberType, PendingId,
};
use crate::store::{
    ImportActivation, ImportClient, ImportCounts, ImportPoolNumber, ImportSet, PoolStatus,
};

const CLIENTS_HEADERS: &[&str] = &[
    "client_id",
    "client_name",
    "client_mail",
    "client_real_phone",
    "client_proxy_number",
    "client_iso_residency",
    "client_country_code",
    "client_last_caller",
    "sub_in_shopi",
];
const POOL_HEADERS: &[&str] = &[
    "country_iso",
    "phone_number",
    "status",
    "friendly_name",
    "date_achat",
    "date_attribution",
    "attribution_to_client_name",
    "number_type",
    "reserved_token",
    "reserved_at",
    "reserved_by_client_id",
];
const PENDING_HEADERS: &[&str] = &[
    "pending_id",
    "client_name",
    "client_mail",
    "client_real_phone",
    "proxy_number",
    "otp",
    "status",
    "created_at",
    "verified_at",
];

/// The CSV files to read; at least one.
#[derive(Debug, Clone, Default)]
pub struct Files {
    pub clients: Option<PathBuf>,
    pub pool: Option<PathBuf>,
    pub pending: Option<PathBuf>,
}

/// A row not imported, or imported with a change the operator must know about.
#[derive(Debug, Clone, Serialize)]
pub struct RowNote {
    pub sheet: &'static str,
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub dry_run: bool,
    /// Why the whole set was refused (then nothing was written).
    pub refused_set: Vec<String>,
    pub counts: ImportCounts,
    /// Malformed rows, left out.
    pub refused_rows: Vec<RowNote>,
    /// Rows imported with a change: activations that were waiting for their code.
    pub notices: Vec<RowNote>,
}

impl ImportReport {
    pub fn refused(&self) -> usize {
        self.refused_rows.len()
    }
}

/// One sheet's rows, each with its line and its cells by header.
struct Sheet {
    name: &'static str,
    rows: Vec<(u64, HashMap<String, String>)>,
}

fn read(name: &'static str, path: &Path, required: &[&str]) -> AppResult<Sheet> {
    let invalid = |message: String| AppError::Invalid {
        field: name,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| invalid(format!("{}: {e}", path.display())))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_owned())
        .collect();
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|h| !headers.iter().any(|have| have == h))
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "{}: missing headers: {}",
            path.display(),
            missing.join(", ")
        )));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        let line = record.position().map_or(0, |p| p.line());
        let cells = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.clone(), cell(v)))
            .collect();
        rows.push((line, cells));
    }
    Ok(Sheet { name, rows })
}

/// A cell as the sheet meant it: trimmed, without the `'` that forces text.
fn cell(raw: &str) -> String {
    let s = raw.trim();
    s.strip_prefix('\'').unwrap_or(s).trim().to_owned()
}

fn get<'a>(cells: &'a HashMap<String, String>, header: &str) -> Option<&'a str> {
    cells
        .get(header)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

/// A number cell may come as `33612345678` or `33612345678.0`.
fn digits_cell(raw: &str) -> &str {
    raw.strip_suffix(".0").unwrap_or(raw)
}

fn phone(cells: &HashMap<String, String>, header: &str) -> Result<Option<E164>, String> {
    get(cells, header)
        .map(|raw| E164::parse(digits_cell(raw)).map_err(|e| format!("{header} {e}")))
        .transpose()
}

fn required_phone(cells: &HashMap<String, String>, header: &str) -> Result<E164, String> {
    phone(cells, header)?.ok_or_else(|| format!("{header} is empty"))
}

fn name(cells: &HashMap<String, String>) -> Result<ClientName, String> {
    ClientName::parse(get(cells, "client_name").unwrap_or_default())
        .map_err(|e| format!("client_name {e}"))
}

fn mail(cells: &HashMap<String, String>) -> Result<Email, String> {
    Email::parse(&get(cells, "client_mail").unwrap_or_default().to_lowercase())
        .map_err(|e| format!("client_mail {e}"))
}

fn client_id(raw: &str, header: &str) -> Result<ClientId, String> {
    ClientId::parse(digits_cell(raw)).map_err(|e| format!("{header} {e}"))
}

/// Naive dates are UTC (the server wrote `datetime.utcnow()`); promotions wrote `+00:00`,
/// the web app `…Z`; a date cell exports as `2026-03-18 17:00:00` or `18/03/2026 17:00:00`.
fn date(cells: &HashMap<String, String>, header: &str) -> Result<Option<DateTime<Utc>>, String> {
    let Some(raw) = get(cells, header) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%d/%m/%Y %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, format) {
            return Ok(Some(t.and_utc()));
        }
    }
    for format in ["%Y-%m-%d", "%d/%m/%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(raw, format) {
            return Ok(Some(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()));
        }
    }
    Err(format!("{header} is not a date: {raw:?}"))
}

#[derive(Default)]
struct Parsed {
    set: ImportSet,
    /// The line of each client's row, by position in `set.clients`.
    client_lines: Vec<u64>,
    refused_rows: Vec<RowNote>,
    notices: Vec<RowNote>,
}

impl Parsed {
    fn refuse(&mut self, sheet: &'static str, line: u64, reason: String) {
        self.refused_rows.push(RowNote {
            sheet,
            line,
            reason,
        });
    }
}

fn parse_clients(sheet: &Sheet, out: &mut Parsed) {
    let mut seen: HashMap<i64, u64> = HashMap::new();
    for (line, cells) in &sheet.rows {
        // Row 2 holds the ARRAYFORMULAs; rows without an id are blank or notes.
        if *line <= 2 {
            continue;
        }
        let Some(raw_id) = get(cells, "client_id") else {
            continue;
        };
        let parsed = (|| {
            let id = client_id(raw_id, "client_id")?;
            let real_phone = required_phone(cells, "client_real_phone")?;
            let iso_residency = get(cells, "client_iso_residency")
                .and_then(|s| CountryIso::parse(s).ok())
                .or_else(|| real_phone.region());
            let country_code = get(cells, "client_country_code")
                .map(|s| format!("+{}", digits_cell(s.trim_start_matches('+'))))
                .or_else(|| real_phone.calling_code());
            Ok::<_, String>(ImportClient {
                id,
                name: name(cells)?,
                mail: mail(cells)?,
                proxy: phone(cells, "client_proxy_number")?,
                last_caller: phone(cells, "client_last_caller")?,
                real_phone,
                iso_residency,
                country_code,
            })
        })();
        match parsed {
            Ok(client) => {
                if let Some(first) = seen.insert(client.id.get(), *line) {
                    out.refuse(
                        sheet.name,
                        *line,
                        format!("client_id {} is already on line {first}", client.id.get()),
                    );
                    continue;
                }
                out.client_lines.push(*line);
                out.set.clients.push(client);
            }
            Err(reason) => out.refuse(sheet.name, *line, reason),
        }
    }
}

fn parse_pool(sheet: &Sheet, out: &mut Parsed) {
    let mut seen: HashMap<E164, u64> = HashMap::new();
    for (line, cells) in &sheet.rows {
        if cells.values().all(String::is_empty) {
            continue;
        }
        let parsed = (|| {
            let phone_number = required_phone(cells, "phone_number")?;
            let status = match get(cells, "status").unwrap_or_default() {
                "available" => PoolStatus::Available,
                "reserved" => PoolStatus::Reserved,
                "assigned" => PoolStatus::Assigned,
                // Set by hand to be released: no new client gets it meanwhile.
                "error" => PoolStatus::Draining,
                other => return Err(format!("status {other:?} is unknown")),
            };
            let country_iso = match get(cells, "country_iso") {
                Some(raw) => CountryIso::parse(raw).map_err(|e| format!("country_iso {e}"))?,
                None => phone_number
                    .region()
                    .ok_or("country_iso is empty and the number names none")?,
            };
            let number_type = NumberType::parse(get(cells, "number_type").unwrap_or("mobile"))
                .map_err(|e| format!("number_type {e}"))?;
            let holder = get(cells, "reserved_by_client_id")
                .map(|raw| client_id(raw, "reserved_by_client_id"))
                .transpose()?;
            Ok::<_, String>(ImportPoolNumber {
                phone_number,
                country_iso,
                number_type,
                status,
                friendly_name: get(cells, "friendly_name").map(str::to_owned),
                purchased_at: date(cells, "date_achat")?,
                assigned_at: date(cells, "date_attribution")?,
                attribution_to_client_name: get(cells, "attribution_to_client_name")
                    .map(str::to_owned),
                reserved_token: get(cells, "reserved_token").map(str::to_owned),
                reserved_at: date(cells, "reserved_at")?,
                holder,
            })
        })();
        match parsed {
            Ok(n) => {
                if let Some(first) = seen.insert(n.phone_number.clone(), *line) {
                    out.refuse(
                        sheet.name,
                        *line,
                        format!("phone_number is already on line {first}"),
                    );
                    continue;
                }
                out.set.pool.push(n);
            }
            Err(reason) => out.refuse(sheet.name, *line, reason),
        }
    }
}

fn parse_pending(sheet: &Sheet, out: &mut Parsed) {
    let pool: HashMap<E164, (NumberType, PoolStatus, Option<String>)> = out
        .set
        .pool
        .iter()
        .map(|n| {
            (
                n.phone_number.clone(),
                (n.number_type, n.status, n.reserved_token.clone()),
            )
        })
        .collect();
    for (line, cells) in &sheet.rows {
        let Some(raw_id) = get(cells, "pending_id") else {
            continue;
        };
        // The code (`otp`) is never read: it was kept in clear.
        let parsed = (|| {
            let pending_id = PendingId::parse(raw_id).map_err(|e| format!("pending_id {e}"))?;
            let raw_status = get(cells, "status").unwrap_or_default();
            let (status, restart) = match raw_status {
                "INIT" | "PENDING" | "PENDING_CALL" | "PENDING_MAIL" => {
                    (ActivationStatus::Expired, true)
                }
                "FAILED" => (ActivationStatus::Expired, false),
                other => (
                    ActivationStatus::parse(other)
                        .ok_or_else(|| format!("status {other:?} is unknown"))?,
                    false,
                ),
            };
            let phone = required_phone(cells, "client_real_phone")?;
            let proxy = required_phone(cells, "proxy_number")?;
            let country = proxy
                .region()
                .or_else(|| phone.region())
                .ok_or("no country from proxy_number")?;
            let known = pool.get(&proxy);
            let reserved = known.is_some_and(|(_, s, token)| {
                *s == PoolStatus::Reserved && token.as_deref() == Some(pending_id.as_str())
            });
            let activation = ImportActivation {
                name: name(cells)?,
                mail: mail(cells)?,
                number_type: known.map_or(NumberType::Mobile, |(t, _, _)| *t),
                created_at: date(cells, "created_at")?.unwrap_or_else(Utc::now),
                verified_at: date(cells, "verified_at")?,
                pending_id,
                phone,
                country,
                proxy,
                reserved,
                status,
            };
            Ok::<_, String>((activation, restart.then_some(raw_status)))
        })();
        match parsed {
            Ok((activation, restart)) => {
                if let Some(was) = restart {
                    out.notices.push(RowNote {
                        sheet: sheet.name,
                        line: *line,
                        reason: format!(
                            "{was}: imported as EXPIRED without its code; its activation must be started again"
                        ),
                    });
                }
                out.set.activations.push(activation);
            }
            Err(reason) => out.refuse(sheet.name, *line, reason),
        }
    }
}

/// Reasons to refuse the whole set: one proxy for two clients, a proxy the pool file lacks.
fn check_set(parsed: &Parsed, pool_given: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let mut by_proxy: BTreeMap<&E164, Vec<u64>> = BTreeMap::new();
    for (client, line) in parsed.set.clients.iter().zip(&parsed.client_lines) {
        if let Some(proxy) = &client.proxy {
            by_proxy.entry(proxy).or_default().push(*line);
        }
    }
    for (proxy, lines) in &by_proxy {
        if lines.len() > 1 {
            problems.push(format!(
                "Clients lines {}: proxy {} is given to {} clients",
                join(lines),
                proxy.as_str(),
                lines.len()
            ));
        }
    }
    if pool_given {
        for (proxy, lines) in &by_proxy {
            if !parsed.set.pool.iter().any(|n| &&n.phone_number == proxy) {
                problems.push(format!(
                    "Clients line {}: proxy {} is not in the pool file",
                    join(lines),
                    proxy.as_str()
                ));
            }
        }
    }
    problems
}

/// A proxy already stored for another client: the write would fail on the unique index, so
/// it is named here with its row first.
async fn check_stored(app: &App, parsed: &Parsed) -> AppResult<Vec<String>> {
    let mut problems = Vec::new();
    for (client, line) in parsed.set.clients.iter().zip(&parsed.client_lines) {
        let Some(proxy) = &client.proxy else {
            continue;
        };
        if let Some(owner) = app.store.client_by_proxy(proxy).await?
            && owner.id != client.id
        {
            problems.push(format!(
                "Clients line {line}: proxy {} is already client {}'s",
                proxy.as_str(),
                owner.id.get()
            ));
        }
    }
    Ok(problems)
}

fn join(lines: &[u64]) -> String {
    lines
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn run(app: &App, files: &Files, dry_run: bool) -> AppResult<ImportReport> {
    if files.clients.is_none() && files.pool.is_none() && files.pending.is_none() {
        return Err(AppError::Invalid {
            field: "files",
            message: "give at least one of --clients, --pool, --pending".into(),
        });
    }
    // Every file's headers are checked before any row is read.
    let clients = files
        .clients
        .as_deref()
        .map(|p| read("Clients", p, CLIENTS_HEADERS))
        .transpose()?;
    let pool = files
        .pool
        .as_deref()
        .map(|p| read("TwilioPools", p, POOL_HEADERS))
        .transpose()?;
    let pending = files
        .pending
        .as_deref()
        .map(|p| read("CONFIRMATION_PENDING", p, PENDING_HEADERS))
        .transpose()?;
    let mut parsed = Parsed::default();
    if let Some(sheet) = &pool {
        parse_pool(sheet, &mut parsed);
    }
    if let Some(sheet) = &clients {
        parse_clients(sheet, &mut parsed);
    }
    if let Some(sheet) = &pending {
        parse_pending(sheet, &mut parsed);
    }
    let mut refused_set = check_set(&parsed, pool.is_some());
    refused_set.extend(check_stored(app, &parsed).await?);
    let counts = if refused_set.is_empty() {
        app.store.import_sheets(&parsed.set, dry_run).await?
    } else {
        ImportCounts::default()
    };
    Ok(ImportReport {
        dry_run,
        refused_set,
        counts,
        refused_rows: parsed.refused_rows,
        notices: parsed.notices,
    })
}

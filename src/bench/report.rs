//! The arithmetic of the report: a figure measured once per run, its median and spread, and
//! the table of targets with its one-line summary. No timing here, so that it can be tested.

use std::fmt::Write as _;

/// One figure, measured once per run.
#[derive(Debug, Clone, Default)]
pub struct Figure {
    pub values: Vec<f64>,
}

impl Figure {
    pub fn push(&mut self, v: f64) {
        self.values.push(v);
    }

    fn finite(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The median of the runs (the mean of the middle two for an even count); NaN without one.
    pub fn median(&self) -> f64 {
        let v = self.finite();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub fn min(&self) -> f64 {
        self.finite().first().copied().unwrap_or(f64::NAN)
    }

    pub fn max(&self) -> f64 {
        self.finite().last().copied().unwrap_or(f64::NAN)
    }

    /// Half the range, as a percentage of the median: how far apart the runs were.
    pub fn spread_pct(&self) -> f64 {
        let m = self.median();
        if self.finite().len() < 2 || m == 0.0 {
            return 0.0;
        }
        100.0 * (self.max() - self.min()) / 2.0 / m.abs()
    }

    /// `median unit [min–max] ±x%`, each number with `decimals` digits after the point.
    pub fn show(&self, decimals: usize, unit: &str) -> String {
        let n = self.finite().len();
        match n {
            0 => "n/a".into(),
            1 => format!("{:.decimals$} {unit}", self.median()),
            _ => format!(
                "{:.decimals$} {unit} [{:.decimals$}–{:.decimals$}] ±{:.0}%",
                self.median(),
                self.min(),
                self.max(),
                self.spread_pct()
            ),
        }
    }

    /// `median` and its unit, then `±x%` (of the median), for the summary line.
    pub fn short(&self, decimals: usize, unit: &str) -> String {
        if self.finite().len() < 2 {
            format!("{:.decimals$}{unit}", self.median())
        } else {
            format!(
                "{:.decimals$}{unit}±{:.0}%",
                self.median(),
                self.spread_pct()
            )
        }
    }
}

/// How a target is judged on the median of its runs.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    AtLeast(f64),
    Below(f64),
    AtMost(f64),
    /// A yes/no figure: 1 met, 0 missed.
    Holds,
    /// Reported, with no threshold.
    Report,
}

impl Goal {
    pub fn met(self, v: f64) -> Option<bool> {
        match self {
            Self::AtLeast(t) => Some(v >= t),
            Self::Below(t) => Some(v < t),
            Self::AtMost(t) => Some(v <= t),
            Self::Holds => Some(v >= 1.0),
            Self::Report => None,
        }
        .map(|ok| ok && v.is_finite())
    }
}

pub struct Row {
    /// The figure's name in the summary line.
    pub key: String,
    pub name: String,
    pub figure: Figure,
    pub decimals: usize,
    pub unit: &'static str,
    pub goal: Goal,
    /// A word or two of context printed after the figure.
    pub note: String,
}

impl Row {
    pub fn verdict(&self) -> &'static str {
        match self.goal.met(self.figure.median()) {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "reported",
        }
    }
}

#[derive(Default)]
pub struct Table {
    pub rows: Vec<Row>,
}

impl Table {
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        key: impl Into<String>,
        name: impl Into<String>,
        figure: Figure,
        decimals: usize,
        unit: &'static str,
        goal: Goal,
        note: impl Into<String>,
    ) {
        self.rows.push(Row {
            key: key.into(),
            name: name.into(),
            figure,
            decimals,
            unit,
            goal,
            note: note.into(),
        });
    }

    pub fn counts(&self) -> (usize, usize) {
        let judged: Vec<_> = self
            .rows
            .iter()
            .filter_map(|r| r.goal.met(r.figure.median()))
            .collect();
        (judged.iter().filter(|ok| **ok).count(), judged.len())
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for r in &self.rows {
            let figure = match r.goal {
                Goal::Holds => yes_no(r.figure.median()).to_owned(),
                _ => r.figure.show(r.decimals, r.unit),
            };
            let _ = writeln!(
                out,
                "  [{:<8}] {:<52} {figure}{}",
                r.verdict(),
                r.name,
                if r.note.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", r.note)
                }
            );
        }
        out
    }

    /// One line: every figure's median and spread, the errors and the count of targets met.
    pub fn summary(&self, engine: &str, errors: u64) -> String {
        let (met, judged) = self.counts();
        let figures: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                format!(
                    "{} {}{}",
                    r.key,
                    match r.goal {
                        Goal::Holds => yes_no(r.figure.median()).to_owned(),
                        _ => r.figure.short(r.decimals, r.unit),
                    },
                    match r.goal.met(r.figure.median()) {
                        Some(false) => "(MISSED)",
                        _ => "",
                    }
                )
            })
            .collect();
        format!(
            "SUMMARY {engine}: {}; wrong {errors}; {met}/{judged} targets met",
            figures.join(", ")
        )
    }
}

fn yes_no(v: f64) -> &'static str {
    if v >= 1.0 { "yes" } else { "no" }
}

/// Least-squares slope of `(x, y)` points; NaN with fewer than two distinct x.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return f64::NAN;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 { f64::NAN } else { sxy / sxx }
}

/// "Flat": the last minute's average within 5 % or 2 MiB (whichever is larger) of the second
/// minute's (the first minute is warm-up: caches and pools fill).
pub fn flat(second_minute: f64, last_minute: f64) -> bool {
    (last_minute - second_minute).abs() <= (0.05 * second_minute).max(2.0)
}

/// A soak's memory counts as flat only at a rate the server sustained: once requests fail
/// (time out), they pile up in the server and its memory stands still at a backlog's level.
pub fn soak_flat(second_minute: f64, last_minute: f64, failed: u64) -> bool {
    failed == 0 && flat(second_minute, last_minute)
}

/// The outbox keeps pace when its queue grew by less than 1 % of the relays taken meanwhile.
pub fn keeps_pace(growth: i64, relays: u64) -> bool {
    relays > 0 && (growth as f64) < 0.01 * relays as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(v: &[f64]) -> Figure {
        Figure { values: v.to_vec() }
    }

    #[test]
    fn median_and_spread() {
        let f = fig(&[10.0, 12.0, 11.0]);
        assert_eq!(f.median(), 11.0);
        assert_eq!((f.min(), f.max()), (10.0, 12.0));
        assert!((f.spread_pct() - 100.0 / 11.0).abs() < 1e-9);
        assert_eq!(f.show(1, "ms"), "11.0 ms [10.0–12.0] ±9%");
        assert_eq!(fig(&[1.0, 3.0]).median(), 2.0);
        assert!(fig(&[]).median().is_nan());
        assert_eq!(fig(&[5.0]).show(0, "%"), "5 %");
        assert_eq!(fig(&[f64::NAN, 4.0]).median(), 4.0);
    }

    #[test]
    fn verdicts_and_summary() {
        let mut t = Table::default();
        t.add(
            "voice",
            "voice/ref",
            fig(&[0.6, 0.4, 0.55]),
            2,
            "",
            Goal::AtLeast(0.5),
            "",
        );
        t.add("p99", "p99", fig(&[3.0]), 1, "ms", Goal::Below(2.0), "");
        t.add("cpu", "cpu", fig(&[1.0]), 1, "us", Goal::Report, "");
        t.add("nan", "nan", fig(&[]), 1, "", Goal::AtMost(1.2), "");
        t.add("flat", "flat", fig(&[0.0]), 0, "", Goal::Holds, "");
        assert_eq!(t.rows[0].verdict(), "met");
        assert_eq!(t.rows[1].verdict(), "MISSED");
        assert_eq!(t.rows[2].verdict(), "reported");
        assert_eq!(t.rows[3].verdict(), "MISSED");
        assert_eq!(t.rows[4].verdict(), "MISSED");
        assert_eq!(t.counts(), (1, 4));
        let s = t.summary("sqlite", 2);
        assert!(
            s.starts_with("SUMMARY sqlite: voice 0.55±18%, p99 3.0ms(MISSED), cpu 1.0us,"),
            "{s}"
        );
        assert!(
            s.ends_with("flat no(MISSED); wrong 2; 1/4 targets met"),
            "{s}"
        );
        assert!(t.render().contains("[MISSED  ] p99"));
    }

    #[test]
    fn soak_and_outbox_rules() {
        assert!((slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]) - 2.0).abs() < 1e-9);
        assert!(slope(&[(1.0, 1.0)]).is_nan());
        assert!(flat(40.0, 41.9));
        assert!(!flat(40.0, 42.5));
        assert!(flat(100.0, 104.0));
        assert!(!flat(100.0, 106.0));
        assert!(soak_flat(100.0, 104.0, 0));
        assert!(!soak_flat(100.0, 104.0, 1));
        assert!(keeps_pace(5, 1000));
        assert!(!keeps_pace(10, 1000));
        assert!(keeps_pace(-300, 1000));
        assert!(!keeps_pace(0, 0));
    }
}

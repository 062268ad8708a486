//! Charts drawn on the server as SVG (issue 10): no script, nothing the Content-Security-Policy
//! has to allow, readable by a screen reader (a title, a description with the totals, and a
//! title on every bar). Every text from data is escaped.

use std::fmt::Write;

use quick_xml::escape::escape;

/// One stacked part of every bar: its name (in the legend) and a value per bar.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct StackedBars {
    /// Unique on the page: the SVG's title and description are named after it.
    pub id: String,
    pub title: String,
    /// One per bar (a bar's tooltip); shown under the axis every `label_every` bars.
    pub labels: Vec<String>,
    pub label_every: usize,
    /// The first bar labelled (a day's chart labels its midnights, wherever the window starts).
    pub label_from: usize,
    pub series: Vec<Series>,
}

/// Okabe and Ito's palette: told apart with every common colour-vision deficiency.
const COLOURS: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
];
const WIDTH: f64 = 840.0;
const PLOT_HEIGHT: f64 = 160.0;
const LEFT: f64 = 40.0;
const TOP: f64 = 10.0;

impl StackedBars {
    /// The chart as an inline `<svg>` element.
    pub fn render(&self) -> String {
        let bars = self.labels.len().max(1);
        let totals: Vec<i64> = (0..bars)
            .map(|i| {
                self.series
                    .iter()
                    .map(|s| s.values.get(i).copied().unwrap_or(0).max(0))
                    .sum()
            })
            .collect();
        let max = totals.iter().copied().max().unwrap_or(0).max(1);
        let step = (WIDTH - LEFT) / bars as f64;
        let legend_rows = self.series.len().div_ceil(4);
        let height = TOP + PLOT_HEIGHT + 24.0 + 18.0 * legend_rows as f64;
        let id = escape(&self.id);
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="{id}-title {id}-desc"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
            escape(&self.title),
            escape(self.description(&totals)),
        );
        // The axis and its maximum.
        let base = TOP + PLOT_HEIGHT;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="#555"/><line x1="{LEFT}" y1="{TOP}" x2="{WIDTH}" y2="{TOP}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end" font-size="11">{max}</text><text x="{}" y="{base}" text-anchor="end" font-size="11">0</text>"##,
            LEFT - 4.0,
            TOP + 10.0,
            LEFT - 4.0,
        );
        for (i, label) in self.labels.iter().enumerate() {
            let x = LEFT + step * i as f64;
            let mut y = base;
            for (k, s) in self.series.iter().enumerate() {
                let v = s.values.get(i).copied().unwrap_or(0).max(0);
                if v == 0 {
                    continue;
                }
                let h = PLOT_HEIGHT * v as f64 / max as f64;
                y -= h;
                let _ = write!(
                    svg,
                    r#"<rect x="{x:.2}" y="{y:.2}" width="{:.2}" height="{h:.2}" fill="{}"><title>{}: {v} {}</title></rect>"#,
                    (step - 1.0).max(1.0),
                    COLOURS[k % COLOURS.len()],
                    escape(label),
                    escape(&s.name),
                );
            }
            if self.label_every > 0
                && i >= self.label_from
                && (i - self.label_from).is_multiple_of(self.label_every)
            {
                // A day's label starts at its bar; near the right edge it ends there instead,
                // so that the last day's is not cut off.
                let (x, anchor) = if x > WIDTH - 40.0 {
                    (WIDTH, "end")
                } else {
                    (x, "start")
                };
                let _ = write!(
                    svg,
                    r#"<text x="{x:.2}" y="{}" text-anchor="{anchor}" font-size="11">{}</text>"#,
                    base + 16.0,
                    escape(label),
                );
            }
        }
        for (k, s) in self.series.iter().enumerate() {
            let x = LEFT + (k % 4) as f64 * 200.0;
            let y = base + 30.0 + 18.0 * (k / 4) as f64;
            let _ = write!(
                svg,
                r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{y}" font-size="12">{}</text>"#,
                y - 10.0,
                COLOURS[k % COLOURS.len()],
                x + 16.0,
                escape(&s.name),
            );
        }
        svg.push_str("</svg>");
        svg
    }

    /// What a screen reader says instead of the picture: each series' total and the busiest
    /// bar.
    fn description(&self, totals: &[i64]) -> String {
        let parts: Vec<String> = self
            .series
            .iter()
            .map(|s| format!("{}: {}", s.name, s.values.iter().sum::<i64>()))
            .collect();
        let busiest = totals
            .iter()
            .enumerate()
            .max_by_key(|(i, t)| (**t, std::cmp::Reverse(*i)))
            .filter(|(_, t)| **t > 0)
            .and_then(|(i, t)| Some(format!("; most: {t} ({})", self.labels.get(i)?)));
        format!("{}{}", parts.join(", "), busiest.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<Series>) -> StackedBars {
        StackedBars {
            id: "calls".into(),
            title: "Appels par heure".into(),
            labels: vec!["10h".into(), "11h".into(), "12h".into()],
            label_every: 2,
            label_from: 0,
            series,
        }
    }

    #[test]
    fn bars_stack_to_the_tallest_total_and_say_their_values() {
        let svg = chart(vec![
            Series {
                name: "forwarded".into(),
                values: vec![1, 3, 0],
            },
            Series {
                name: "refused".into(),
                values: vec![1, 1, 0],
            },
        ])
        .render();
        // The tallest bar (11h: 4) fills the plot; 10h (2) half of it.
        assert!(svg.contains(r#"height="120.00""#), "{svg}");
        assert!(svg.contains(r#"height="40.00""#), "{svg}");
        assert_eq!(
            svg.matches("<rect").count(),
            4 + 2,
            "four parts and two legend keys"
        );
        assert!(svg.contains("<title>11h: 3 forwarded</title>"));
        assert!(svg.contains("forwarded: 4, refused: 2; most: 4 (11h)"));
        // Labels every second bar.
        assert!(svg.contains(">10h</text>") && svg.contains(">12h</text>"));
        assert!(!svg.contains(">11h</text>"));
    }

    #[test]
    fn text_from_data_is_escaped_and_an_empty_chart_draws() {
        let svg = chart(vec![Series {
            name: "<script>alert(1)</script>".into(),
            values: vec![1, 0, 0],
        }])
        .render();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        let empty = chart(Vec::new()).render();
        assert!(empty.starts_with("<svg") && empty.ends_with("</svg>"));
        assert!(!empty.contains("NaN"));
    }

    #[test]
    fn labels_start_at_the_first_labelled_bar() {
        let mut c = chart(vec![Series {
            name: "forwarded".into(),
            values: vec![1, 1, 1],
        }]);
        c.label_from = 1;
        let svg = c.render();
        assert!(svg.contains(">11h</text>"), "{svg}");
        assert!(!svg.contains(">10h</text>") && !svg.contains(">12h</text>"));
    }

    #[test]
    fn the_last_bars_label_ends_at_the_right_edge_instead_of_being_cut() {
        let hours = 60;
        let svg = StackedBars {
            labels: (0..hours).map(|h| format!("h{h}")).collect(),
            label_every: hours - 1,
            series: vec![Series {
                name: "forwarded".into(),
                values: vec![1; hours],
            }],
            ..chart(Vec::new())
        }
        .render();
        assert!(
            svg.contains(r#"text-anchor="end" font-size="11">h59</text>"#),
            "{svg}"
        );
        assert!(svg.contains(r#"text-anchor="start" font-size="11">h0</text>"#));
    }
}

//! The plot `bench --svg FILE` writes: throughput and latency against the number of branches,
//! one line per schedule (and per cluster, with `--processes`), each schedule drawn against the
//! limit of plain gRPC calls it was compared with. Written by hand as SVG text from a
//! [`BenchReport`], with no I/O: the rows so far of a stopped benchmark draw as a whole one's do.
//!
//! Two panels side by side share the branches axis (logarithmic, a tick at each number of
//! branches asked for, measured or not):
//!
//! - **throughput**, operations per second (logarithmic). The limit is drawn as what it allows
//!   in those units: the limit measured just before each configuration (calls per second) ÷ that
//!   configuration's exchanges per operation, a dashed line in its schedule's colour. A run above
//!   its dashed line does more exchanges per second than plain unary calls go, as the table's
//!   ratio says (propagations ride streams, which cost less than a call each).
//! - **latency** per operation, p50 and p99 (logarithmic), against the p50 of one plain call
//!   of the sequential limit at the start, a horizontal grey dashed line.
//!
//! Elements carry classes for tests and styling: `panel throughput` and `panel latency` (the
//! two `<g>`), `series` polylines with `data-series` and `data-figure` (`ops/s`, `p50`, `p99`),
//! `limit` polylines, `axis x` tick labels, and the `legend`. A value that is not positive (a
//! run too short to time) has no place on a logarithmic axis and is left out of its line.

use std::fmt::{self, Write as _};

use super::{BenchReport, Deployment, Measurement, thousands};
use crate::model::Schedule;
use crate::picture::svg::escape;

/// Width of the whole picture, in pixels.
const WIDTH: f64 = 1000.0;
/// Where the two panels' plotting areas start, from the left edge.
const PANEL_LEFTS: [f64; 2] = [90.0, 590.0];
/// Where the plotting areas start, from the top.
const PANEL_TOP: f64 = 140.0;
/// Width of a plotting area.
const PANEL_WIDTH: f64 = 380.0;
/// Height of a plotting area.
const PANEL_HEIGHT: f64 = 300.0;
/// Room between a plotting area's sides and its first and last number of branches, so that
/// their marks are whole.
const X_PAD: f64 = 24.0;
/// Closest two branch-count labels may be, centre to centre; a closer one is left out.
const X_LABEL_GAP: f64 = 30.0;
/// Where the legend starts, below the branches axis and its caption.
const LEGEND_TOP: f64 = PANEL_TOP + PANEL_HEIGHT + 72.0;
/// Height of one line of the legend.
const LEGEND_LINE: f64 = 21.0;
/// Series side by side in one line of the legend.
const LEGEND_COLUMNS: usize = 3;
/// Width of one series in the legend.
const LEGEND_COLUMN: f64 = 300.0;

/// Fonts the viewer already has: the picture loads nothing.
const FONTS: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";

const STYLE: &str = "
.title{font-size:18px;font-weight:700;fill:#111827}
.subtitle{font-size:12.5px;fill:#374151}
.subtitle.alert{fill:#b91c1c;font-weight:700}
.panel-title{font-size:14px;font-weight:700;fill:#1f2937}
.frame{fill:none;stroke:#94a3b8;stroke-width:1}
.grid{stroke:#e5e7eb;stroke-width:1}
.axis text{font-size:11px;fill:#4b5563}
.caption{font-size:12px;fill:#374151}
.empty{font-size:13px;fill:#6b7280}
.series,.limit,.sample{fill:none;stroke-linejoin:round;stroke-linecap:round}
.series,.sample{stroke-width:2}
.dotted{stroke-width:1.6;stroke-dasharray:1.5 4}
.limit,.dashed{stroke-width:1.5;stroke-dasharray:7 5}
.reference{stroke:#6b7280}
.point{stroke-width:1.6}
.legend text{font-size:12px;fill:#374151}
";

/// The plot of `report` as a standalone SVG file: see the module documentation.
pub fn render(report: &BenchReport) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = draw(report, &mut out);
    out
}

/// Where a configuration's branches ran, as drawn: a mark shape each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Circle,
    Square,
    Triangle,
}

impl Mark {
    fn of(deployment: Deployment) -> Self {
        match deployment {
            Deployment::InProcess => Mark::Circle,
            Deployment::Processes => Mark::Square,
            Deployment::ProcessesData => Mark::Triangle,
        }
    }
}

/// The colour of a schedule: its limit's, and its in-process series'.
fn schedule_colour(schedule: Schedule) -> &'static str {
    match schedule {
        Schedule::Sequential => "#0072b2",
        Schedule::Concurrent => "#d55e00",
    }
}

/// A series' colour: its schedule's hue, lighter for processes, darker with `--data`
/// (colour-blind safe, after Okabe and Ito).
fn colour(schedule: Schedule, deployment: Deployment) -> &'static str {
    match (schedule, deployment) {
        (_, Deployment::InProcess) => schedule_colour(schedule),
        (Schedule::Sequential, Deployment::Processes) => "#56b4e9",
        (Schedule::Sequential, Deployment::ProcessesData) => "#003f6b",
        (Schedule::Concurrent, Deployment::Processes) => "#e69f00",
        (Schedule::Concurrent, Deployment::ProcessesData) => "#7f2f00",
    }
}

/// The rows of one schedule on one kind of cluster, by number of branches.
struct Series<'a> {
    schedule: Schedule,
    deployment: Deployment,
    runs: Vec<&'a Measurement>,
}

impl Series<'_> {
    fn name(&self) -> String {
        format!("{}, {}", self.schedule.name(), self.deployment.name())
    }

    fn colour(&self) -> &'static str {
        colour(self.schedule, self.deployment)
    }
}

/// The series of `report`, in the order their first rows were measured.
fn series(report: &BenchReport) -> Vec<Series<'_>> {
    let mut all: Vec<Series<'_>> = Vec::new();
    for run in &report.runs {
        let found = all
            .iter_mut()
            .find(|series| (series.schedule, series.deployment) == (run.schedule, run.deployment));
        match found {
            Some(series) => series.runs.push(run),
            None => all.push(Series {
                schedule: run.schedule,
                deployment: run.deployment,
                runs: vec![run],
            }),
        }
    }
    for series in &mut all {
        // Stable: two rows of the same number of branches stay in the order measured.
        series.runs.sort_by_key(|run| run.branches);
    }
    all
}

/// The schedules of `report`'s rows, in the order first measured.
fn schedules(report: &BenchReport) -> Vec<Schedule> {
    let mut schedules = Vec::new();
    for run in &report.runs {
        if !schedules.contains(&run.schedule) {
            schedules.push(run.schedule);
        }
    }
    schedules
}

/// The limit of `schedule` in operations per second, by number of branches: each
/// configuration's limit (shared by its clusters, so taken from its first row) ÷ its exchanges
/// per operation.
fn ceiling(report: &BenchReport, schedule: Schedule) -> Vec<(u32, f64)> {
    let first = report
        .config
        .deployments()
        .first()
        .copied()
        .unwrap_or(Deployment::InProcess);
    let mut points: Vec<(u32, f64)> = report
        .runs
        .iter()
        .filter(|run| run.schedule == schedule && run.deployment == first)
        .filter(|run| run.exchanges_per_op() > 0.0)
        .map(|run| (run.branches, run.limit / run.exchanges_per_op()))
        .collect();
    points.sort_by_key(|&(branches, _)| branches);
    points
}

/// A latency in microseconds, as a float for a logarithmic axis.
fn micros(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// A plotting area, in pixels.
#[derive(Debug, Clone, Copy)]
struct Frame {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
}

impl Frame {
    fn panel(index: usize) -> Self {
        Self {
            left: PANEL_LEFTS[index],
            top: PANEL_TOP,
            width: PANEL_WIDTH,
            height: PANEL_HEIGHT,
        }
    }

    fn right(&self) -> f64 {
        self.left + self.width
    }

    fn bottom(&self) -> f64 {
        self.top + self.height
    }
}

/// The branches axis: logarithmic, a tick at each number of branches asked for.
struct BranchAxis {
    counts: Vec<u32>,
}

impl BranchAxis {
    fn of(report: &BenchReport) -> Self {
        let mut counts: Vec<u32> = report
            .config
            .branches()
            .iter()
            .chain(report.runs.iter().map(|run| &run.branches))
            .copied()
            .collect();
        counts.sort_unstable();
        counts.dedup();
        Self { counts }
    }

    fn x(&self, frame: &Frame, branches: u32) -> f64 {
        let (Some(&first), Some(&last)) = (self.counts.first(), self.counts.last()) else {
            return frame.left + frame.width / 2.0;
        };
        if first == last {
            return frame.left + frame.width / 2.0;
        }
        let (low, high) = (f64::from(first).ln(), f64::from(last).ln());
        let share = (f64::from(branches).ln() - low) / (high - low);
        frame.left + X_PAD + share * (frame.width - 2.0 * X_PAD)
    }
}

/// A logarithmic value axis from `10^low` to `10^high`, whole decades.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LogAxis {
    low: i32,
    high: i32,
}

impl LogAxis {
    /// The decades that hold every positive value of `values`; `None` without one.
    fn fitting(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let positive = values
            .into_iter()
            .filter(|value| value.is_finite() && *value > 0.0);
        let (low, high) = positive.fold(None, |range: Option<(f64, f64)>, value| {
            Some(range.map_or((value, value), |(low, high)| {
                (low.min(value), high.max(value))
            }))
        })?;
        // The exponents of values a run can have fit an i32 many times over.
        let low = low.log10().floor() as i32;
        let high = (high.log10().ceil() as i32).max(low + 1);
        Some(Self { low, high })
    }

    fn y(&self, frame: &Frame, value: f64) -> f64 {
        let share = (value.log10() - f64::from(self.low)) / f64::from(self.high - self.low);
        frame.bottom() - share * frame.height
    }

    /// 1, 2 and 5 of every decade when there are at most three (at least 30 pixels apart),
    /// else the decades alone.
    fn ticks(&self) -> Vec<f64> {
        let mantissas: &[f64] = if self.high - self.low <= 3 {
            &[1.0, 2.0, 5.0]
        } else {
            &[1.0]
        };
        let mut ticks = Vec::new();
        for exponent in self.low..=self.high {
            for &mantissa in mantissas {
                if exponent < self.high || mantissa == 1.0 {
                    ticks.push(mantissa * 10f64.powi(exponent));
                }
            }
        }
        ticks
    }
}

/// A number without trailing zeros: 2, 0.5, 250.
fn plain(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    format!("{rounded}")
}

/// A rate tick: 500, 2k, 10k, 1M.
fn rate_label(value: f64) -> String {
    if value >= 1e6 {
        format!("{}M", plain(value / 1e6))
    } else if value >= 1e3 {
        format!("{}k", plain(value / 1e3))
    } else {
        plain(value)
    }
}

/// A latency tick, from microseconds: 500 µs, 2 ms, 1 s.
fn latency_label(micros: f64) -> String {
    if micros >= 1e6 {
        format!("{} s", plain(micros / 1e6))
    } else if micros >= 1e3 {
        format!("{} ms", plain(micros / 1e3))
    } else {
        format!("{} µs", plain(micros))
    }
}

fn draw(report: &BenchReport, out: &mut String) -> fmt::Result {
    let series = series(report);
    let schedules = schedules(report);
    let axis = BranchAxis::of(report);
    let keys = keys(report, &schedules);
    let series_lines = series.len().div_ceil(LEGEND_COLUMNS);
    let height = LEGEND_TOP + (series_lines + keys.len()) as f64 * LEGEND_LINE + 8.0;
    writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"{FONTS}\">"
    )?;
    writeln!(out, "<style>{STYLE}</style>")?;
    writeln!(
        out,
        "<rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>"
    )?;
    heading(report, out)?;
    throughput(report, &series, &schedules, &axis, out)?;
    latency(report, &series, &axis, out)?;
    legend(&series, &keys, out)?;
    writeln!(out, "</svg>")
}

/// The title (the workload) and what the plot was measured against.
fn heading(report: &BenchReport, out: &mut String) -> fmt::Result {
    let config = &report.config;
    let title = format!(
        "lamport-bank bench: {} operations per customer, seed {}, {} clocks",
        config.ops_per_customer,
        config.seed,
        config.model.name()
    );
    let mut lines = vec![(
        "subtitle",
        format!(
            "One customer per branch, a seeded mix of deposits, withdraws and queries; Lamport \
             clocks only; {} cores; each configuration on a fresh cluster",
            report.cores
        ),
    )];
    if config.serve_binary.is_some() {
        lines.push((
            "subtitle",
            "Clusters: in-process; processes (a serve process per branch, on loopback); \
             processes+data (the same with --data, SQLite)"
                .to_string(),
        ));
    }
    lines.push((
        "subtitle",
        match &report.limit {
            Some(limit) => format!(
                "Limit of plain gRPC calls at the start (no-op Ping, {:.1} s each): 1 sequential \
                 caller {} calls/s (p50 {} µs); {} concurrent callers {} calls/s",
                limit.duration.as_secs_f64(),
                thousands(limit.sequential),
                limit.sequential_latency.p50.as_micros(),
                limit.callers,
                thousands(limit.concurrent)
            ),
            None => "Stopped before the limit of plain gRPC calls was measured".to_string(),
        },
    ));
    if report.stopped {
        lines.push((
            "subtitle alert",
            format!(
                "Stopped: {} of {} configurations measured",
                report.runs.len(),
                config.run_count()
            ),
        ));
    }
    writeln!(
        out,
        "<text class=\"title\" x=\"{}\" y=\"30\">{}</text>",
        PANEL_LEFTS[0] - 60.0,
        escape(&title)
    )?;
    for (index, (class, line)) in lines.iter().enumerate() {
        writeln!(
            out,
            "<text class=\"{class}\" x=\"{}\" y=\"{:.1}\">{}</text>",
            PANEL_LEFTS[0] - 60.0,
            52.0 + 18.0 * index as f64,
            escape(line)
        )?;
    }
    Ok(())
}

/// The left panel: operations per second of every series, and each schedule's limit.
fn throughput(
    report: &BenchReport,
    series: &[Series<'_>],
    schedules: &[Schedule],
    axis: &BranchAxis,
    out: &mut String,
) -> fmt::Result {
    let frame = Frame::panel(0);
    let ceilings: Vec<(Schedule, Vec<(u32, f64)>)> = schedules
        .iter()
        .map(|&schedule| (schedule, ceiling(report, schedule)))
        .collect();
    let values = series
        .iter()
        .flat_map(|series| series.runs.iter().map(|run| run.ops_per_s()))
        .chain(
            ceilings
                .iter()
                .flat_map(|(_, points)| points.iter().map(|p| p.1)),
        );
    let y = LogAxis::fitting(values);
    writeln!(out, "<g class=\"panel throughput\">")?;
    axes(
        out,
        &frame,
        ("Throughput", "operations per second (log scale)"),
        axis,
        y.as_ref(),
        rate_label,
    )?;
    if let Some(y) = y {
        for (schedule, points) in &ceilings {
            let at: Vec<(f64, f64)> = points
                .iter()
                .map(|&(branches, value)| (axis.x(&frame, branches), y.y(&frame, value)))
                .collect();
            writeln!(
                out,
                "<polyline class=\"limit\" data-schedule=\"{}\" stroke=\"{}\" points=\"{}\"/>",
                schedule.name(),
                schedule_colour(*schedule),
                points_text(&at)
            )?;
        }
        for series in series {
            let values = series.runs.iter().map(|run| {
                let title = format!(
                    "{}, {} branches: {} operations/s; limit {} calls/s, {:.2} exchanges per \
                     operation (ratio {:.2})",
                    series.name(),
                    run.branches,
                    thousands(run.ops_per_s()),
                    thousands(run.limit),
                    run.exchanges_per_op(),
                    run.ratio()
                );
                (run.branches, run.ops_per_s(), title)
            });
            line(out, &frame, axis, &y, series, ("ops/s", false), values)?;
        }
    }
    writeln!(out, "</g>")
}

/// The right panel: p50 and p99 latency of every series, and one plain call's.
fn latency(
    report: &BenchReport,
    series: &[Series<'_>],
    axis: &BranchAxis,
    out: &mut String,
) -> fmt::Result {
    let frame = Frame::panel(1);
    let reference = report
        .limit
        .as_ref()
        .map(|limit| micros(limit.sequential_latency.p50));
    let values = series
        .iter()
        .flat_map(|series| {
            series
                .runs
                .iter()
                .flat_map(|run| [micros(run.latency.p50), micros(run.latency.p99)])
        })
        .chain(reference);
    // The plain call alone puts nothing on the axis: it is a reference for the runs.
    let y = (!report.runs.is_empty())
        .then(|| LogAxis::fitting(values))
        .flatten();
    writeln!(out, "<g class=\"panel latency\">")?;
    axes(
        out,
        &frame,
        ("Latency per operation", "latency, p50 and p99 (log scale)"),
        axis,
        y.as_ref(),
        latency_label,
    )?;
    if let Some(y) = y {
        if let Some(reference) = reference.filter(|&value| value > 0.0) {
            let at = y.y(&frame, reference);
            writeln!(
                out,
                "<polyline class=\"limit reference\" data-figure=\"plain call p50\" \
                 points=\"{}\"/>",
                points_text(&[(frame.left, at), (frame.right(), at)])
            )?;
        }
        for (figure, hollow) in [("p99", true), ("p50", false)] {
            for series in series {
                let values = series.runs.iter().map(|run| {
                    let value = if hollow {
                        run.latency.p99
                    } else {
                        run.latency.p50
                    };
                    let title = format!(
                        "{}, {} branches: {figure} {} µs (p50 {} µs, p99 {} µs, max {} µs)",
                        series.name(),
                        run.branches,
                        value.as_micros(),
                        run.latency.p50.as_micros(),
                        run.latency.p99.as_micros(),
                        run.latency.max.as_micros()
                    );
                    (run.branches, micros(value), title)
                });
                line(out, &frame, axis, &y, series, (figure, hollow), values)?;
            }
        }
    }
    writeln!(out, "</g>")
}

/// A panel's title, frame, grid, tick labels and captions; a note in the middle if nothing
/// was measured.
fn axes(
    out: &mut String,
    frame: &Frame,
    (title, caption): (&str, &str),
    axis: &BranchAxis,
    y: Option<&LogAxis>,
    label: fn(f64) -> String,
) -> fmt::Result {
    writeln!(
        out,
        "<text class=\"panel-title\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
        frame.left,
        frame.top - 12.0,
        escape(title)
    )?;
    writeln!(out, "<g class=\"axis x\">")?;
    let mut last_label: Option<f64> = None;
    for &branches in &axis.counts {
        let x = axis.x(frame, branches);
        writeln!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>",
            frame.top,
            frame.bottom()
        )?;
        if last_label.is_none_or(|last| x - last >= X_LABEL_GAP) {
            writeln!(
                out,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{branches}</text>",
                frame.bottom() + 17.0
            )?;
            last_label = Some(x);
        }
    }
    writeln!(out, "</g>")?;
    writeln!(
        out,
        "<text class=\"caption\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">branches (log \
         scale)</text>",
        frame.left + frame.width / 2.0,
        frame.bottom() + 38.0
    )?;
    writeln!(out, "<g class=\"axis y\">")?;
    if let Some(y) = y {
        for tick in y.ticks() {
            let at = y.y(frame, tick);
            writeln!(
                out,
                "<line class=\"grid\" x1=\"{:.1}\" y1=\"{at:.1}\" x2=\"{:.1}\" y2=\"{at:.1}\"/>",
                frame.left,
                frame.right()
            )?;
            writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                frame.left - 7.0,
                at + 4.0,
                escape(&label(tick))
            )?;
        }
    }
    writeln!(out, "</g>")?;
    writeln!(
        out,
        "<text class=\"caption\" text-anchor=\"middle\" transform=\"translate({:.1} {:.1}) \
         rotate(-90)\">{}</text>",
        frame.left - 62.0,
        frame.top + frame.height / 2.0,
        escape(caption)
    )?;
    writeln!(
        out,
        "<rect class=\"frame\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
        frame.left, frame.top, frame.width, frame.height
    )?;
    if y.is_none() {
        writeln!(
            out,
            "<text class=\"empty\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no \
             configuration was measured</text>",
            frame.left + frame.width / 2.0,
            frame.top + frame.height / 2.0
        )?;
    }
    Ok(())
}

/// One series' line of one figure and its marks (hollow for p99), each mark titled with its
/// figures; values that are not positive are left out.
fn line(
    out: &mut String,
    frame: &Frame,
    axis: &BranchAxis,
    y: &LogAxis,
    series: &Series<'_>,
    (figure, hollow): (&str, bool),
    values: impl Iterator<Item = (u32, f64, String)>,
) -> fmt::Result {
    let points: Vec<(f64, f64, String)> = values
        .filter(|(_, value, _)| value.is_finite() && *value > 0.0)
        .map(|(branches, value, title)| (axis.x(frame, branches), y.y(frame, value), title))
        .collect();
    let at: Vec<(f64, f64)> = points.iter().map(|&(x, y, _)| (x, y)).collect();
    let colour = series.colour();
    writeln!(
        out,
        "<polyline class=\"series{}\" data-series=\"{}\" data-figure=\"{figure}\" \
         stroke=\"{colour}\" points=\"{}\"/>",
        if hollow { " dotted" } else { "" },
        escape(&series.name()),
        points_text(&at)
    )?;
    for (x, y, title) in &points {
        let shape = Mark::of(series.deployment);
        mark(out, shape, (*x, *y), (colour, hollow), Some(title.as_str()))?;
    }
    Ok(())
}

/// A mark of `shape` centred on `(x, y)`, in `colour` (white inside if `hollow`), with its
/// `title` as a browser's tooltip.
fn mark(
    out: &mut String,
    shape: Mark,
    (x, y): (f64, f64),
    (colour, hollow): (&str, bool),
    title: Option<&str>,
) -> fmt::Result {
    let fill = if hollow { "#ffffff" } else { colour };
    let (tag, place) = match shape {
        Mark::Circle => ("circle", format!("cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\"")),
        Mark::Square => (
            "rect",
            format!(
                "x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\"",
                x - 3.5,
                y - 3.5
            ),
        ),
        Mark::Triangle => (
            "polygon",
            format!(
                "points=\"{}\"",
                points_text(&[(x, y - 5.0), (x + 4.5, y + 3.5), (x - 4.5, y + 3.5)])
            ),
        ),
    };
    write!(
        out,
        "<{tag} class=\"point\" fill=\"{fill}\" stroke=\"{colour}\" {place}"
    )?;
    match title {
        Some(title) => writeln!(out, "><title>{}</title></{tag}>", escape(title)),
        None => writeln!(out, "/>"),
    }
}

fn points_text(points: &[(f64, f64)]) -> String {
    let each: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    each.join(" ")
}

/// How a line of the legend's key is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sample {
    /// A solid line with a filled mark.
    Solid,
    /// A dotted line with a hollow mark.
    Dotted,
    /// A dashed line in a schedule's colour.
    Limit(Schedule),
    /// The grey dashed line of one plain call.
    Reference,
    /// Text alone, continuing the line above.
    Text,
}

/// The key's lines: what each kind of line means, and which limit each schedule is drawn
/// against.
fn keys(report: &BenchReport, schedules: &[Schedule]) -> Vec<(Sample, String)> {
    let mut keys = vec![
        (
            Sample::Solid,
            "solid line, filled marks: operations per second (left); median (p50) latency per \
             operation as its customer saw it (right)"
                .to_string(),
        ),
        (
            Sample::Dotted,
            "dotted line, hollow marks: 99th-percentile (p99) latency per operation (right)"
                .to_string(),
        ),
    ];
    for &schedule in schedules {
        let callers = match schedule {
            Schedule::Sequential => "1 sequential caller".to_string(),
            Schedule::Concurrent => format!("{} concurrent callers", report.config.callers),
        };
        keys.push((
            Sample::Limit(schedule),
            format!(
                "dashed: the {} schedule's limit, as operations per second: the plain gRPC \
                 calls/s of {callers} ÷ exchanges per operation",
                schedule.name()
            ),
        ));
    }
    if !schedules.is_empty() {
        keys.push((
            Sample::Text,
            "(each limit measured just before its configuration; a run above its limit does \
             more exchanges per second than plain calls do)"
                .to_string(),
        ));
    }
    if let Some(limit) = &report.limit {
        keys.push((
            Sample::Reference,
            format!(
                "grey dashed: the latency of one plain gRPC call, p50 of the sequential limit \
                 at the start ({} µs)",
                limit.sequential_latency.p50.as_micros()
            ),
        ));
    }
    keys
}

/// The legend: every series (its colour and mark), then the key.
fn legend(series: &[Series<'_>], keys: &[(Sample, String)], out: &mut String) -> fmt::Result {
    let left = PANEL_LEFTS[0] - 60.0;
    writeln!(out, "<g class=\"legend\">")?;
    for (index, series) in series.iter().enumerate() {
        let x = left + (index % LEGEND_COLUMNS) as f64 * LEGEND_COLUMN;
        let y = LEGEND_TOP + (index / LEGEND_COLUMNS) as f64 * LEGEND_LINE;
        let colour = series.colour();
        writeln!(
            out,
            "<polyline class=\"sample\" stroke=\"{colour}\" points=\"{}\"/>",
            points_text(&[(x, y - 4.0), (x + 30.0, y - 4.0)])
        )?;
        let shape = Mark::of(series.deployment);
        mark(out, shape, (x + 15.0, y - 4.0), (colour, false), None)?;
        writeln!(
            out,
            "<text class=\"name\" x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
            x + 38.0,
            escape(&series.name())
        )?;
    }
    let top = LEGEND_TOP + series.len().div_ceil(LEGEND_COLUMNS) as f64 * LEGEND_LINE;
    for (index, (sample, text)) in keys.iter().enumerate() {
        let y = top + index as f64 * LEGEND_LINE;
        let ends = [(left, y - 4.0), (left + 30.0, y - 4.0)];
        let grey = "#4b5563";
        match sample {
            Sample::Solid | Sample::Dotted => {
                let hollow = *sample == Sample::Dotted;
                writeln!(
                    out,
                    "<polyline class=\"sample{}\" stroke=\"{grey}\" points=\"{}\"/>",
                    if hollow { " dotted" } else { "" },
                    points_text(&ends)
                )?;
                let at = (left + 15.0, y - 4.0);
                mark(out, Mark::Circle, at, (grey, hollow), None)?;
            }
            Sample::Limit(schedule) => writeln!(
                out,
                "<polyline class=\"sample dashed\" stroke=\"{}\" points=\"{}\"/>",
                schedule_colour(*schedule),
                points_text(&ends)
            )?,
            Sample::Reference => writeln!(
                out,
                "<polyline class=\"sample dashed reference\" points=\"{}\"/>",
                points_text(&ends)
            )?,
            Sample::Text => {}
        }
        writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
            left + 38.0,
            escape(text)
        )?;
    }
    writeln!(out, "</g>")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bench::latency::Percentiles;
    use crate::bench::limit::Limit;
    use crate::bench::{BenchConfig, Mix};
    use crate::model::ClockModel;

    fn run(branches: u32, schedule: Schedule, deployment: Deployment) -> Measurement {
        let n = u64::from(branches);
        let micros = |us: u64| Duration::from_micros(us * n);
        Measurement {
            branches,
            schedule,
            deployment,
            mix: Mix {
                deposits: 45 * n,
                withdraws: 45 * n,
                queries: 10 * n,
            },
            elapsed: Duration::from_millis(10 * n),
            latency: Percentiles {
                p50: micros(100),
                p99: micros(300),
                max: micros(900),
            },
            exchanges: (90 * n + 10) * n,
            events: 1000 * n,
            peak_kib: Some(4096 * n),
            peak_reset: true,
            limit: 9000.0,
            cpu: None,
            limit_cpu: None,
            replicas_agree: true,
            waits: 0,
        }
    }

    fn report(branches: &[u32], deployments: &[Deployment], stopped_after: usize) -> BenchReport {
        let schedules = vec![Schedule::Sequential, Schedule::Concurrent];
        let mut config = BenchConfig::new(
            branches.to_vec(),
            100,
            schedules.clone(),
            ClockModel::Strict,
            42,
            Duration::from_secs(1),
            64,
        )
        .expect("a valid configuration");
        if deployments.len() > 1 {
            config = config.with_processes("lamport-bank".into());
        }
        let mut runs = Vec::new();
        for &n in branches {
            for &schedule in &schedules {
                for &deployment in deployments {
                    runs.push(run(n, schedule, deployment));
                }
            }
        }
        let stopped = stopped_after < runs.len();
        runs.truncate(stopped_after);
        BenchReport {
            config,
            cores: 2,
            limit: Some(Limit {
                sequential: 9000.0,
                sequential_latency: Percentiles {
                    p50: Duration::from_micros(111),
                    p99: Duration::from_micros(200),
                    max: Duration::from_micros(400),
                },
                sequential_cpu: None,
                concurrent: 60000.0,
                concurrent_cpu: None,
                callers: 64,
                duration: Duration::from_secs(1),
            }),
            runs,
            stopped,
        }
    }

    fn class_has(node: &roxmltree::Node<'_, '_>, class: &str) -> bool {
        node.attribute("class")
            .is_some_and(|classes| classes.split(' ').any(|c| c == class))
    }

    fn panel<'a>(svg: &'a roxmltree::Document<'a>, name: &str) -> roxmltree::Node<'a, 'a> {
        svg.descendants()
            .find(|node| class_has(node, "panel") && class_has(node, name))
            .unwrap_or_else(|| panic!("no {name} panel"))
    }

    /// `(data-series, data-figure, number of points)` of every series line in `node`.
    fn lines(node: roxmltree::Node<'_, '_>) -> Vec<(String, String, usize)> {
        node.descendants()
            .filter(|node| node.has_tag_name("polyline") && class_has(node, "series"))
            .map(|line| {
                let points = line.attribute("points").unwrap_or_default();
                (
                    line.attribute("data-series")
                        .unwrap_or_default()
                        .to_string(),
                    line.attribute("data-figure")
                        .unwrap_or_default()
                        .to_string(),
                    points.split_whitespace().count(),
                )
            })
            .collect()
    }

    fn texts(node: roxmltree::Node<'_, '_>) -> Vec<String> {
        node.descendants()
            .filter(|node| node.has_tag_name("text"))
            .map(|text| text.text().unwrap_or_default().to_string())
            .collect()
    }

    fn legend(svg: &roxmltree::Document<'_>) -> String {
        let legend = svg
            .descendants()
            .find(|node| class_has(node, "legend"))
            .expect("a legend");
        texts(legend).join("\n")
    }

    /// Three numbers of branches, both schedules, in process: valid XML with an SVG root; the
    /// title names the workload; one throughput line per schedule and a p50 and a p99 latency
    /// line each, three points each; each schedule's limit and the plain call drawn; the
    /// branches axis labels every count; the legend names every series and the limits.
    #[test]
    fn both_panels_draw_every_series_against_its_limit() {
        let report = report(&[4, 16, 64], &[Deployment::InProcess], usize::MAX);
        let text = render(&report);
        let svg = roxmltree::Document::parse(&text).expect("the plot is XML");
        let root = svg.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg")
        );
        let all = texts(root).join("\n");
        assert!(
            all.contains("100 operations per customer, seed 42, strict clocks"),
            "{all}"
        );
        assert!(!all.contains("Stopped"), "{all}");

        let throughput = panel(&svg, "throughput");
        let expected = |figure: &str| {
            ["sequential, in-process", "concurrent, in-process"]
                .map(|name| (name.to_string(), figure.to_string(), 3))
                .to_vec()
        };
        assert_eq!(lines(throughput), expected("ops/s"));
        let limits: Vec<_> = throughput
            .descendants()
            .filter(|node| class_has(node, "limit"))
            .map(|node| node.attribute("data-schedule").unwrap_or_default())
            .collect();
        assert_eq!(limits, ["sequential", "concurrent"]);
        let latency = panel(&svg, "latency");
        assert_eq!(lines(latency), [expected("p99"), expected("p50")].concat());
        assert!(
            latency
                .descendants()
                .any(|node| node.attribute("data-figure") == Some("plain call p50"))
        );

        for panel in [throughput, latency] {
            let x = panel
                .descendants()
                .find(|node| class_has(node, "axis") && class_has(node, "x"))
                .expect("a branches axis");
            assert_eq!(texts(x), ["4", "16", "64"]);
            let all = texts(panel).join("\n");
            assert!(all.contains("branches (log scale)"), "{all}");
        }
        assert!(texts(throughput).contains(&"operations per second (log scale)".to_string()));
        assert!(texts(latency).iter().any(|label| label.ends_with(" ms")));

        let legend = legend(&svg);
        for named in [
            "sequential, in-process",
            "concurrent, in-process",
            "the sequential schedule's limit",
            "1 sequential caller",
            "the concurrent schedule's limit",
            "64 concurrent callers",
            "plain gRPC call",
            "p99",
        ] {
            assert!(
                legend.contains(named),
                "{named} not in the legend:\n{legend}"
            );
        }
    }

    /// With `--processes`, one line per schedule and cluster (six), each with its own mark;
    /// the limit stays one line per schedule, as the clusters of a configuration share it.
    #[test]
    fn clusters_of_processes_are_series_of_their_own() {
        let deployments = [
            Deployment::InProcess,
            Deployment::Processes,
            Deployment::ProcessesData,
        ];
        let report = report(&[2, 3], &deployments, usize::MAX);
        let text = render(&report);
        let svg = roxmltree::Document::parse(&text).expect("the plot is XML");
        let names: Vec<String> = lines(panel(&svg, "throughput"))
            .into_iter()
            .map(|(name, _, points)| {
                assert_eq!(points, 2, "{name}");
                name
            })
            .collect();
        assert_eq!(
            names,
            [
                "sequential, in-process",
                "sequential, processes",
                "sequential, processes+data",
                "concurrent, in-process",
                "concurrent, processes",
                "concurrent, processes+data",
            ]
        );
        let legend = legend(&svg);
        for name in &names {
            assert!(legend.contains(name.as_str()), "{name}:\n{legend}");
        }
        let limits = panel(&svg, "throughput")
            .descendants()
            .filter(|node| class_has(node, "limit"))
            .count();
        assert_eq!(limits, 2);
        for tag in ["circle", "rect", "polygon"] {
            assert!(
                svg.descendants()
                    .any(|node| node.has_tag_name(tag) && class_has(&node, "point")),
                "no {tag} mark"
            );
        }
    }

    /// A benchmark stopped after three of its six configurations draws the rows so far, says
    /// it was stopped, and keeps every number of branches asked for on the axis.
    #[test]
    fn a_stopped_benchmark_draws_the_rows_so_far() {
        let report = report(&[4, 16, 64], &[Deployment::InProcess], 3);
        let text = render(&report);
        let svg = roxmltree::Document::parse(&text).expect("the plot is XML");
        assert_eq!(
            lines(panel(&svg, "throughput")),
            [
                ("sequential, in-process".to_string(), "ops/s".to_string(), 2),
                ("concurrent, in-process".to_string(), "ops/s".to_string(), 1),
            ]
        );
        let all = texts(svg.root_element()).join("\n");
        assert!(
            all.contains("Stopped: 3 of 6 configurations measured"),
            "{all}"
        );
        let x = texts(
            panel(&svg, "latency")
                .descendants()
                .find(|node| class_has(node, "x"))
                .expect("a branches axis"),
        );
        assert_eq!(x, ["4", "16", "64"]);
    }

    /// Stopped before anything was measured: still a valid picture, its panels empty and saying
    /// so.
    #[test]
    fn nothing_measured_draws_empty_panels() {
        let mut report = report(&[4], &[Deployment::InProcess], 0);
        report.limit = None;
        let text = render(&report);
        let svg = roxmltree::Document::parse(&text).expect("the plot is XML");
        for name in ["throughput", "latency"] {
            let panel = panel(&svg, name);
            assert!(lines(panel).is_empty());
            assert!(texts(panel).contains(&"no configuration was measured".to_string()));
        }
    }

    #[test]
    fn log_axes_cover_whole_decades() {
        let axis = LogAxis::fitting([120.0, 3500.0, 0.0]).expect("positive values");
        assert_eq!(axis, LogAxis { low: 2, high: 4 });
        assert_eq!(
            axis.ticks(),
            [100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0]
        );
        assert_eq!(
            LogAxis::fitting([1000.0]),
            Some(LogAxis { low: 3, high: 4 })
        );
        assert_eq!(LogAxis::fitting([-1.0, f64::NAN]), None);
        let three = LogAxis::fitting([5.0, 900.0]).expect("positive values");
        assert_eq!(three.ticks().len(), 3 * 3 + 1);
        let wide = LogAxis::fitting([5.0, 2e5]).expect("positive values");
        assert_eq!(wide.ticks(), [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]);
    }

    #[test]
    fn tick_labels_have_their_units() {
        assert_eq!(rate_label(500.0), "500");
        assert_eq!(rate_label(2000.0), "2k");
        assert_eq!(rate_label(1e6), "1M");
        assert_eq!(latency_label(500.0), "500 µs");
        assert_eq!(latency_label(2000.0), "2 ms");
        assert_eq!(latency_label(1e6), "1 s");
        assert_eq!(plain(0.2), "0.2");
    }
}

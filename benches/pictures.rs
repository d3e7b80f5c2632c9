//! `cargo bench --bench pictures`: how large the pictures of a large run are, and how long the
//! HTML viewer takes to get ready in headless Chromium. Two seeded workloads, run concurrently on
//! a real cluster: 16 branches × 10 operations and 48 branches × 20 operations (one customer per
//! branch). For each: the events, the bytes of `--html` and `--svg`, and the page's own time from
//! its first script to ready (`data-ready-ms`, the median of three loads), and the whole browser
//! run's wall time (start, load, ready, dump). Without Chromium the times are left out.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use lamport_bank::cluster::{self, RunConfig};
use lamport_bank::model::Schedule;
use lamport_bank::picture::{html, svg};
use lamport_bank::scenario::workload::{self, WorkloadSpec};

/// How many times each page is loaded.
const LOADS: usize = 3;

fn find_browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"].map(|name| dir.join(name))
        })
        .find(|candidate| candidate.is_file())
}

/// Loads `page` once: the page's ready time in ms, and the browser's wall time in seconds.
fn load(browser: &Path, profile: &Path, page: &Path) -> Option<(f64, f64)> {
    let started = Instant::now();
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1400,1000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let wall = started.elapsed().as_secs_f64();
    let dom = String::from_utf8_lossy(&output.stdout);
    let key = "data-ready-ms=\"";
    let at = dom.find(key)? + key.len();
    let end = at + dom[at..].find('"')?;
    Some((dom[at..end].parse().ok()?, wall))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Runtime::new()?;
    let browser = find_browser();
    let dir = tempfile::tempdir()?;
    println!("| run | events | --html | --svg | page ready (median of {LOADS}) | browser wall |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (branches, ops) in [(16_u32, 10_usize), (48, 20)] {
        let spec = WorkloadSpec {
            branches: (1..=branches).collect(),
            ops_per_customer: ops,
            initial_balance: workload::DEFAULT_INITIAL_BALANCE,
        };
        let scenario = workload::generate(1, &spec);
        let config = RunConfig {
            schedule: Schedule::Concurrent,
            ..RunConfig::default()
        };
        let report = runtime.block_on(cluster::run(&scenario, config))?;
        let history = &report.history;
        let page = html::render(history)?;
        let picture = svg::render(history)?;
        let path = dir.path().join(format!("{branches}.html"));
        std::fs::write(&path, &page)?;
        let times = browser.as_ref().map(|browser| {
            let loads: Vec<(f64, f64)> = (0..LOADS)
                .filter_map(|n| load(browser, &dir.path().join(format!("profile-{n}")), &path))
                .collect();
            (
                median(loads.iter().map(|load| load.0).collect()),
                median(loads.iter().map(|load| load.1).collect()),
            )
        });
        let (ready, wall) = times.map_or(
            ("no browser".to_string(), String::new()),
            |(ready, wall)| (format!("{ready:.0} ms"), format!("{wall:.1} s")),
        );
        println!(
            "| {branches} branches × {ops} operations | {} | {:.1} MB | {:.1} MB | {ready} | {wall} |",
            history.len(),
            page.len() as f64 / 1e6,
            picture.len() as f64 / 1e6,
        );
    }
    Ok(())
}

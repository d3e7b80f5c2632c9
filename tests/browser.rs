//! The HTML viewer in a real browser (headless Chromium), at three sizes (the sample, 16
//! branches × 10 operations, and a 50-branch course-style input in which every customer comes
//! twice): it renders, its script runs without error, clicking an event in the middle of the run
//! selects exactly the causal past, future and concurrent events the vector clocks give, finding
//! an event (by process and number, event id or Lamport value) selects it and brings it into
//! view, and the journey view shows that event's journey alone. Skipped, with the reason
//! printed, when no Chromium is installed, but a failure in CI (`CI=true`), whose `.ci/run`
//! installs Debian's `chromium`.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{example, run_cluster};
use lamport_bank::model::{ClockModel, Schedule};
use lamport_bank::picture::html;
use lamport_bank::picture::layout::Layout;
use lamport_bank::scenario::workload::{self, WorkloadSpec};
use lamport_bank::scenario::{Scenario, input};
use lamport_bank::trace::{History, TraceEvent};

/// The browsers tried, in order.
const BROWSERS: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// How long one browser run may take before the test gives up on it.
const BROWSER_LIMIT: Duration = Duration::from_secs(60);

fn find_browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| BROWSERS.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Runs the browser headless on `url` with `extra` flags and returns what it printed.
fn browse(browser: &Path, profile: &Path, extra: &[String], url: &str) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the browser starts");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let read = stdout.read_to_string(&mut text).map(|_| text);
        let _ = done.send(read);
    });
    let result = finished.recv_timeout(BROWSER_LIMIT);
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().expect("the browser is waited for");
    let text = result
        .unwrap_or_else(|_| panic!("the browser did not finish within {BROWSER_LIMIT:?}"))
        .expect("the browser's output is text");
    assert!(status.success(), "the browser failed: {status}");
    text
}

/// The value of attribute `name` on the element with id `id` in `dom`.
fn attribute(dom: &str, id: &str, name: &str) -> Option<String> {
    let start = dom.find(&format!("id=\"{id}\""))?;
    let tag_start = dom[..start].rfind('<')?;
    let tag_end = start + dom[start..].find('>')?;
    let tag = &dom[tag_start..tag_end];
    let key = format!("{name}=\"");
    let at = tag.find(&key)? + key.len();
    let length = tag[at..].find('"')?;
    Some(tag[at..at + length].to_string())
}

fn labels(text: &str) -> BTreeSet<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// The labels (`B2-5`) of the events in `selected`'s causal past, future and concurrent set, by
/// the vector clocks: `a` is before `b` when `b`'s vector has reached `a`'s number on `a`'s
/// process.
fn causal_sets(
    history: &History,
    selected: &TraceEvent,
) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let lane = |event: &TraceEvent| {
        history
            .table
            .index_of(event.process)
            .expect("every process is in the table")
    };
    let (mut past, mut future, mut concurrent) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for event in history.iter().filter(|event| *event != selected) {
        let label = format!("{}-{}", event.process, event.seq);
        if selected.vector[lane(event)] >= event.seq {
            past.insert(label);
        } else if event.vector[lane(selected)] >= selected.seq {
            future.insert(label);
        } else {
            concurrent.insert(label);
        }
    }
    (past, future, concurrent)
}

/// A page of `history` written in `dir`, opened in the browser at `fragment` (with a screenshot
/// when `screenshot` names a file): the page as the script left it, checked to have no script
/// error and to have got ready.
fn open(
    browser: &Path,
    dir: &Path,
    history: &History,
    fragment: &str,
    screenshot: Option<&Path>,
) -> String {
    let path = dir.join("page.html");
    if !path.exists() {
        let page = html::render(history).expect("a recorded run draws");
        std::fs::write(&path, page).expect("the page is written");
    }
    let mut flags = vec![
        "--window-size=1400,1000".to_string(),
        "--dump-dom".to_string(),
    ];
    if let Some(screenshot) = screenshot {
        flags.push(format!("--screenshot={}", screenshot.display()));
    }
    let url = format!("file://{}#{fragment}", path.display());
    let dom = browse(browser, &dir.join("profile"), &flags, &url);
    assert!(
        !dom.contains("id=\"script-error\""),
        "a script error: {}",
        &dom[dom.len().saturating_sub(2000)..]
    );
    assert!(
        dom.contains("data-ready=\"yes\""),
        "the script did not finish"
    );
    dom
}

/// Clicks the event labelled `label` and checks the panel's sets against the vector clocks;
/// returns their sizes.
fn assert_click(
    browser: &Path,
    dir: &Path,
    history: &History,
    label: &str,
) -> (usize, usize, usize) {
    let selected = history
        .iter()
        .find(|event| format!("{}-{}", event.process, event.seq) == label)
        .expect("the event exists");
    let dom = open(browser, dir, history, &format!("click={label}"), None);
    assert_eq!(
        attribute(&dom, "panel", "data-selected").as_deref(),
        Some(label)
    );
    let (past, future, concurrent) = causal_sets(history, selected);
    for (name, expected) in [
        ("data-past", &past),
        ("data-future", &future),
        ("data-concurrent", &concurrent),
    ] {
        let shown = attribute(&dom, "panel", name).unwrap_or_default();
        assert_eq!(&labels(&shown), expected, "{label}: {name}");
    }
    (past.len(), future.len(), concurrent.len())
}

/// Finds `query` and checks that the event labelled `label` is selected and in view: its x
/// within the part of the run the canvas shows, its lane among those on screen.
fn assert_found(browser: &Path, dir: &Path, history: &History, query: &str, label: &str) {
    let layout = Layout::of(history).expect("laid out");
    let dot = layout
        .dots
        .iter()
        .find(|dot| dot.label == label)
        .expect("a dot");
    let dom = open(browser, dir, history, &format!("find={query}"), None);
    assert_eq!(
        attribute(&dom, "panel", "data-selected").as_deref(),
        Some(label),
        "{query}"
    );
    let view = attribute(&dom, "diagram", "data-view").unwrap_or_default();
    let range: Vec<i64> = view.split(' ').filter_map(|n| n.parse().ok()).collect();
    assert!(
        range.len() == 2 && range[0] <= dot.x && dot.x <= range[1],
        "{query}: x {} not in {view}",
        dot.x
    );
    let lanes = attribute(&dom, "diagram", "data-lanes").unwrap_or_default();
    assert!(
        lanes.split(' ').any(|lane| lane == dot.process),
        "{query}: {} not in {lanes}",
        dot.process
    );
}

/// The event in the middle of the run (in causal order), its first event of the same event id,
/// and the first event at or after its Lamport value: what finding its label, `event N` and
/// `L N` select.
fn middle(history: &History) -> (String, u64, String, u64, String) {
    let layout = Layout::of(history).expect("laid out");
    let dot = &layout.dots[layout.dots.len() / 2];
    let first_of_id = layout
        .dots
        .iter()
        .find(|other| other.event_id == dot.event_id)
        .expect("itself at least");
    let at_lamport = layout
        .dots
        .iter()
        .filter(|other| other.lamport >= dot.lamport)
        .min_by_key(|other| other.lamport)
        .expect("itself at least");
    (
        dot.label.clone(),
        dot.event_id,
        first_of_id.label.clone(),
        dot.lamport,
        at_lamport.label.clone(),
    )
}

/// Headless Chromium takes a screenshot of the sample's page; clicking `B2-5` (the origin's
/// reply to C2's deposit) selects the sets the vector clocks give (10, 12 and 8 events); and
/// the journey view of it shows event 2's events alone.
#[tokio::test]
async fn clicking_an_event_highlights_its_causal_past_in_a_browser() {
    let Some(browser) = find_browser() else {
        common::missing(&format!("a browser (tried {})", BROWSERS.join(", ")));
        return;
    };
    let report = run_cluster(
        &example("sample"),
        ClockModel::Original,
        Schedule::Sequential,
    )
    .await;
    let history = &report.history;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let screenshot = dir.path().join("sample.png");
    open(&browser, dir.path(), history, "", Some(&screenshot));
    let png = std::fs::read(&screenshot).expect("the screenshot was taken");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        png.len() > 20_000,
        "a blank screenshot? {} bytes",
        png.len()
    );
    assert_eq!(
        assert_click(&browser, dir.path(), history, "B2-5"),
        (10, 12, 8)
    );

    let dom = open(
        &browser,
        dir.path(),
        history,
        "click=B2-5&view=journey",
        None,
    );
    let journey: Vec<&TraceEvent> = history
        .iter()
        .filter(|event| event.event_id.0 == 2)
        .collect();
    assert_eq!(
        attribute(&dom, "diagram", "data-drawn"),
        Some(journey.len().to_string())
    );
    let mut lanes: Vec<String> = journey
        .iter()
        .map(|event| event.process.to_string())
        .collect();
    lanes.sort();
    lanes.dedup();
    let mut shown: Vec<String> = attribute(&dom, "diagram", "data-lanes")
        .unwrap_or_default()
        .split(' ')
        .map(str::to_string)
        .collect();
    shown.sort();
    assert_eq!(shown, lanes);
}

/// Clicks the middle event of a larger run and finds it three ways.
fn assert_navigable(browser: &Path, history: &History, what: &str) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (label, event_id, first_of_id, lamport, at_lamport) = middle(history);
    let (past, future, concurrent) = assert_click(browser, dir.path(), history, &label);
    assert!(
        past > 0 && future > 0,
        "{what}: {label} has {past} before, {future} after, {concurrent} concurrent"
    );
    assert_found(browser, dir.path(), history, &label, &label);
    assert_found(
        browser,
        dir.path(),
        history,
        &format!("event {event_id}"),
        &first_of_id,
    );
    assert_found(
        browser,
        dir.path(),
        history,
        &format!("L {lamport}"),
        &at_lamport,
    );
}

/// Runs `scenario` concurrently (it must give more than `at_least` events) and checks that its
/// page is navigable.
async fn assert_run_navigable(scenario: &Scenario, at_least: usize, what: &str) {
    let Some(browser) = find_browser() else {
        common::missing(&format!("a browser (tried {})", BROWSERS.join(", ")));
        return;
    };
    let report = run_cluster(scenario, ClockModel::Original, Schedule::Concurrent).await;
    let events = report.history.len();
    assert!(events > at_least, "{what}: {events} events");
    assert_navigable(&browser, &report.history, what);
}

/// 16 branches × 10 operations, concurrent: thousands of events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_16_branches_is_navigable_in_a_browser() {
    let spec = WorkloadSpec {
        branches: (1..=16).collect(),
        ops_per_customer: 10,
        initial_balance: workload::DEFAULT_INITIAL_BALANCE,
    };
    assert_run_navigable(&workload::generate(1, &spec), 4_000, "16 branches").await;
}

/// The course's 50-branch input style: every customer in two entries (one customer all the
/// same), each depositing and then querying.
fn course_style_input() -> Scenario {
    let mut items = Vec::new();
    for id in 1..=50 {
        items.push(serde_json::json!({"id": id, "type": "branch", "balance": 100}));
    }
    let mut event = 0;
    for _round in 0..2 {
        for id in 1..=50 {
            event += 2;
            items.push(serde_json::json!({"id": id, "type": "customer", "events": [
                {"id": event - 1, "interface": "deposit", "money": 10},
                {"id": event, "interface": "query"}]}));
        }
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("input.json");
    std::fs::write(&path, serde_json::Value::Array(items).to_string()).expect("written");
    input::load(&path.to_string_lossy()).expect("the input reads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_course_style_run_of_50_branches_is_navigable_in_a_browser() {
    assert_run_navigable(&course_style_input(), 10_000, "50 branches").await;
}

//! The HTML page in a real browser (headless Chromium): it renders, its script runs without
//! error, and clicking an event highlights exactly its causal past, future and concurrent
//! events as the vector clocks say. Skipped, with the reason printed, when no Chromium is
//! installed, but a failure in CI (`CI=true`), whose `.ci/run` installs Debian's `chromium`.

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

/// Headless Chromium takes a screenshot of the sample's page, and after the test hooks click
/// `B2-5` (the origin's reply to C2's deposit) and switch to order of recording, the panel
/// lists as its causal past, future and concurrent events exactly the sets the vector clocks
/// give (10, 12 and 8 events), the dots sit at their order-of-recording places, and no script
/// error was reported.
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
    let page = html::render(history).expect("a recorded run draws");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("sample.html");
    std::fs::write(&path, page).expect("the page is written");
    let url = format!("file://{}", path.display());

    // One browser run does both: the screenshot and the page as the script left it.
    let screenshot = dir.path().join("sample.png");
    let dom = browse(
        &browser,
        &dir.path().join("profile"),
        &[
            format!("--screenshot={}", screenshot.display()),
            "--window-size=1400,1000".to_string(),
            "--dump-dom".to_string(),
        ],
        &format!("{url}#click=B2-5&position=seq"),
    );
    let png = std::fs::read(&screenshot).expect("the screenshot was taken");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(
        png.len() > 20_000,
        "a blank screenshot? {} bytes",
        png.len()
    );
    assert!(
        !dom.contains("id=\"script-error\""),
        "a script error: {dom}"
    );
    assert!(
        dom.contains("data-ready=\"yes\""),
        "the script did not finish"
    );
    assert_eq!(
        attribute(&dom, "panel", "data-selected").as_deref(),
        Some("B2-5")
    );

    let selected = history
        .iter()
        .find(|event| event.process.to_string() == "B2" && event.seq == 5)
        .expect("B2 has a fifth event");
    let lane = |event: &lamport_bank::trace::TraceEvent| {
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
    assert_eq!((past.len(), future.len(), concurrent.len()), (10, 12, 8));
    for (name, expected) in [
        ("data-past", &past),
        ("data-future", &future),
        ("data-concurrent", &concurrent),
    ] {
        let shown = attribute(&dom, "panel", name).unwrap_or_default();
        assert_eq!(&labels(&shown), expected, "{name}");
    }
    // The switch to order of recording moved the dots to their `data-xs` places.
    let moved = |name: &str| attribute(&dom, "ev-B2-5", name).unwrap_or_default();
    assert_eq!(
        moved("transform"),
        format!("translate({},{})", moved("data-xs"), moved("data-y"))
    );
    assert_eq!(
        attribute(&dom, "diagram", "width"),
        attribute(&dom, "diagram", "data-width-seq")
    );
    let highlighted = attribute(&dom, "ev-B1-3", "class").unwrap_or_default();
    assert!(
        highlighted.split_whitespace().any(|class| class == "past"),
        "B1-3 is drawn as past: {highlighted}"
    );
}

//! The pictures of a run: the SVG diagram (parsed as XML and counted), the HTML page (nothing
//! external), the ShiViz log (checked against ShiViz's own rules, recomputed here), and
//! `render` of a saved trace (the same bytes as the run that wrote it).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;

use common::{EXAMPLES, example, examples_dir, run_cluster};
use lamport_bank::model::{ClockModel, Schedule};
use lamport_bank::picture::{html, shiviz, svg};
use lamport_bank::scenario::input;
use lamport_bank::trace::History;

/// The elements of `document` whose `class` attribute lists `class`.
fn with_class<'a>(
    document: &'a roxmltree::Document<'a>,
    class: &str,
) -> Vec<roxmltree::Node<'a, 'a>> {
    document
        .descendants()
        .filter(|node| {
            node.attribute("class")
                .is_some_and(|classes| classes.split_whitespace().any(|c| c == class))
        })
        .collect()
}

fn number(node: roxmltree::Node, attribute: &str) -> f64 {
    node.attribute(attribute)
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("{attribute} of {node:?}"))
}

/// Every arrow goes forward (right) and no two dots of a lane sit at the same place.
fn check_geometry(document: &roxmltree::Document, run: &str) {
    for arrow in with_class(document, "message") {
        assert!(
            number(arrow, "x2") > number(arrow, "x1"),
            "{run}: arrow {:?} does not go forward",
            arrow.attribute("data-message")
        );
    }
    let mut positions: HashMap<(&str, i64), &str> = HashMap::new();
    for event in with_class(document, "event") {
        let process = event.attribute("data-process").expect("a process");
        let x = number(event, "data-x") as i64;
        let id = event.attribute("id").expect("an id");
        if let Some(other) = positions.insert((process, x), id) {
            panic!("{run}: {id} and {other} overlap");
        }
    }
}

/// In every example, every model and both schedules, every arrow of the SVG goes forward and
/// no dots overlap, though queries and the `original` model's sends keep the Lamport value of
/// the event before them (and a query can reach a branch whose clock is behind the sender's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_arrow_goes_forward_and_no_dots_overlap() {
    for name in EXAMPLES {
        for model in ClockModel::ALL {
            for schedule in [Schedule::Sequential, Schedule::Concurrent] {
                let report = run_cluster(&example(name), model, schedule).await;
                let text = svg::render(&report.history).expect("a recorded run draws");
                let document = roxmltree::Document::parse(&text).expect("the SVG is XML");
                let run = format!("{name} {} {}", model.name(), schedule.name());
                check_geometry(&document, &run);
                assert_eq!(with_class(&document, "event").len(), report.history.len());
            }
        }
    }
}

/// How many messages were both sent and received.
fn message_count(history: &History) -> usize {
    let senders = history.senders();
    history
        .iter()
        .filter(|event| {
            event
                .receives
                .is_some_and(|message| senders.contains_key(&message))
        })
        .count()
}

/// The sample's SVG parses as XML and has exactly one lane per process, one dot per event and
/// one arrow per message (6, 31 and 18); every arrow goes forward; a dot's hover text names
/// its event, ids and clocks; the title names the input, model, schedule and final balances.
#[tokio::test]
async fn the_sample_svg_has_a_lane_per_process_a_dot_per_event_an_arrow_per_message() {
    let mut report = run_cluster(
        &example("sample"),
        ClockModel::Original,
        Schedule::Sequential,
    )
    .await;
    report.history.source = Some("sample.json".to_string());
    let text = svg::render(&report.history).expect("a recorded run draws");
    let document = roxmltree::Document::parse(&text).expect("the SVG is XML");
    assert_eq!(document.root_element().tag_name().name(), "svg");

    let lanes = with_class(&document, "lane");
    let names: Vec<&str> = lanes
        .iter()
        .filter_map(|lane| lane.attribute("data-process"))
        .collect();
    assert_eq!(names, ["B1", "B2", "B3", "C1", "C2", "C3"]);
    let events = with_class(&document, "event");
    assert_eq!(events.len(), 31);
    assert_eq!(events.len(), report.history.len());
    let arrows = with_class(&document, "message");
    assert_eq!(arrows.len(), 18);
    assert_eq!(arrows.len(), message_count(&report.history));

    check_geometry(&document, "sample");

    let execute = document
        .descendants()
        .find(|node| node.attribute("id") == Some("ev-B2-2"))
        .expect("B2's second event");
    let title = execute
        .children()
        .find(|node| node.has_tag_name("title"))
        .and_then(|node| node.text())
        .expect("a hover title");
    assert_eq!(
        title,
        "deposit_execute\nevent id 2, process B2, seq 2\nLamport clock 2\n\
         vector clock {B2:2, C2:1}\nsent B2:1\nbalance 570"
    );
    let kinds: Vec<&str> = arrows
        .iter()
        .filter_map(|arrow| arrow.attribute("data-kind"))
        .collect();
    for (kind, count) in [
        ("request", 5),
        ("propagation", 4),
        ("propagation-reply", 4),
        ("reply", 5),
    ] {
        assert_eq!(
            kinds.iter().filter(|k| **k == kind).count(),
            count,
            "{kind}"
        );
    }
    let heading: Vec<&str> = with_class(&document, "subtitle")
        .iter()
        .chain(&with_class(&document, "title"))
        .filter_map(|node| node.text())
        .collect();
    assert_eq!(
        heading,
        [
            "clocks original · schedule sequential · final balances B1 500, B2 500, B3 500",
            "Space-time diagram of sample.json"
        ]
    );
}

/// A withdraw over the balance is marked: a red cross on the origin's execute (which sent
/// nothing), "rejected" under it, and "fail" under the customer's receive.
#[tokio::test]
async fn a_rejected_withdraw_is_marked() {
    let scenario = input::parse(
        "rejected.json",
        r#"[{"id": 1, "type": "branch", "balance": 100}, {"id": 2, "type": "branch", "balance": 100},
            {"id": 1, "type": "customer", "events": [{"id": 1, "interface": "withdraw", "money": 500},
                                                     {"id": 2, "interface": "deposit", "money": 5}]}]"#,
    )
    .expect("a valid input");
    let report = run_cluster(&scenario, ClockModel::Strict, Schedule::Sequential).await;
    let text = svg::render(&report.history).expect("a recorded run draws");
    let document = roxmltree::Document::parse(&text).expect("the SVG is XML");
    let crosses = with_class(&document, "cross");
    let marked: Vec<&str> = crosses
        .iter()
        .filter_map(|cross| cross.parent()?.attribute("id"))
        .filter(|id| id.starts_with("ev-"))
        .collect();
    assert_eq!(marked, ["ev-B1-2"]);
    let alerts: Vec<(&str, &str)> = with_class(&document, "alert")
        .iter()
        .filter_map(|note| Some((note.parent()?.attribute("id")?, note.text()?)))
        .collect();
    assert_eq!(alerts, [("ev-B1-2", "rejected"), ("ev-C1-2", "fail")]);
}

/// The HTML page loads nothing: no URL, no `src` or `href`, no stylesheet link or import, and
/// every `url(` points inside the page; the style, the script and the run's data are inline,
/// the data one record per event and per message.
#[tokio::test]
async fn the_html_page_references_no_external_resource() {
    for (name, schedule) in [
        ("sample", Schedule::Sequential),
        ("wide", Schedule::Concurrent),
    ] {
        let report = run_cluster(&example(name), ClockModel::Strict, schedule).await;
        let page = html::render(&report.history).expect("a recorded run draws");
        let lower = page.to_lowercase();
        for forbidden in [
            "http:", "https:", "src=", "href=", "<link", "@import", "//cdn", "<iframe",
        ] {
            assert!(!lower.contains(forbidden), "{name}: {forbidden}");
        }
        for (at, _) in lower.match_indices("url(") {
            assert!(
                lower[at..].starts_with("url(#"),
                "{name}: {}",
                &page[at..at + 20]
            );
        }
        for needed in [
            "<canvas id=\"diagram\"",
            "<style>",
            "<script>",
            "id=\"history-data\"",
        ] {
            assert!(page.contains(needed), "{name}: {needed}");
        }
        // One record of eight numbers per event, of four per message.
        let start = page
            .find("id=\"history-data\" type=\"application/json\">")
            .expect("data")
            + "id=\"history-data\" type=\"application/json\">".len();
        let end = start + page[start..].find("</script>").expect("the data ends");
        let data: serde_json::Value = serde_json::from_str(&page[start..end]).expect("JSON");
        let numbers = |key: &str| data[key].as_array().map_or(0, Vec::len);
        assert_eq!(numbers("events"), 8 * report.history.len(), "{name}");
        let layout = lamport_bank::picture::layout::Layout::of(&report.history).expect("laid out");
        assert_eq!(numbers("messages"), 4 * layout.arrows.len(), "{name}");
    }
}

/// One parsed line of a ShiViz log.
#[derive(Debug)]
struct LogLine {
    host: String,
    clock: BTreeMap<String, u64>,
}

/// Applies ShiViz's rules to `log` (see its `ModelGraph`): the regex line with the `host`,
/// `clock` and `event` groups, then an empty line; every line matches the regex; each host's
/// own entry runs 1, 2, 3, … in the order of the lines; every entry names a host of the log
/// with a value it reached; every event comes after the events it depends on; and every clock
/// equals the one recomputed from the happens-before edges the clocks imply.
fn check_shiviz(log: &str) -> Result<Vec<LogLine>, String> {
    let mut lines = log.lines();
    let pattern = lines.next().ok_or("no regex line")?;
    for group in ["(?<host>", "(?<clock>", "(?<event>"] {
        if !pattern.contains(group) {
            return Err(format!("the regex has no {group} group"));
        }
    }
    if lines.next() != Some("") {
        return Err("the second line is not empty".to_string());
    }
    let regex = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| e.to_string())?;
    let mut events = Vec::new();
    for (number, line) in lines.enumerate() {
        let captures = regex
            .captures(line)
            .ok_or_else(|| format!("line {} does not match: {line}", number + 3))?;
        let clock: BTreeMap<String, u64> = serde_json::from_str(&captures["clock"])
            .map_err(|e| format!("line {}: {e}", number + 3))?;
        events.push(LogLine {
            host: captures["host"].to_string(),
            clock,
        });
    }
    // Own entries 1, 2, 3, … and each host's events by own time.
    let mut by_host: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, event) in events.iter().enumerate() {
        let mine = by_host.entry(&event.host).or_default();
        let own = event.clock.get(&event.host).copied();
        if own != Some(mine.len() as u64 + 1) {
            return Err(format!(
                "{}: own entry {own:?} after {} events",
                event.host,
                mine.len()
            ));
        }
        mine.push(index);
    }
    for event in &events {
        for (host, value) in &event.clock {
            let reached = by_host.get(host.as_str()).map_or(0, Vec::len) as u64;
            if *value < 1 || *value > reached {
                return Err(format!(
                    "{} {:?}: {host}:{value} but {host} reached {reached}",
                    event.host, event.clock
                ));
            }
        }
    }
    // Parents as ShiViz infers them: the entries that grew since the host's previous event,
    // minus those already implied by another candidate.
    let mut latest: HashMap<&str, HashMap<&str, u64>> = HashMap::new();
    let mut recomputed: Vec<BTreeMap<String, u64>> = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        let seen = latest.entry(&event.host).or_default();
        let mut candidates = Vec::new();
        for (host, value) in &event.clock {
            if *host != event.host && seen.get(host.as_str()).is_none_or(|old| old < value) {
                seen.insert(host, *value);
                candidates.push(by_host[host.as_str()][*value as usize - 1]);
            }
        }
        let implied = |candidate: usize| {
            candidates.iter().any(|other| {
                let clock = &events[*other].clock;
                let host = &events[candidate].host;
                *other != candidate
                    && events[*other].host != *host
                    && clock.get(host) == events[candidate].clock.get(host)
            })
        };
        let parents: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|c| !implied(*c))
            .collect();
        let own = event.clock[&event.host];
        let previous = (own > 1).then(|| by_host[event.host.as_str()][own as usize - 2]);
        let mut clock = BTreeMap::from([(event.host.clone(), own)]);
        for cause in parents.iter().copied().chain(previous) {
            if cause >= index {
                return Err(format!("line {} comes before its cause", index + 3));
            }
            for (host, value) in &recomputed[cause] {
                let entry = clock.entry(host.clone()).or_insert(0);
                *entry = (*entry).max(*value);
            }
        }
        if clock != event.clock {
            return Err(format!(
                "{} {:?}: ShiViz recomputes {clock:?}",
                event.host, event.clock
            ));
        }
        recomputed.push(clock);
    }
    Ok(events)
}

/// The ShiViz log of every example, in both models and both schedules, and of a run with a
/// branch that has no event, passes ShiViz's rules; its clocks are the run's recorded vector
/// clocks; a process with no event is never named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shiviz_logs_pass_shivizs_rules() {
    let idle = input::parse(
        "idle.json",
        r#"[{"id": 1, "type": "branch", "balance": 10}, {"id": 2, "type": "branch", "balance": 10},
            {"id": 1, "type": "customer", "events": [{"id": 1, "interface": "query"}]}]"#,
    )
    .expect("a valid input");
    let mut scenarios: Vec<(String, lamport_bank::scenario::Scenario)> = EXAMPLES
        .iter()
        .map(|name| (name.to_string(), example(name)))
        .collect();
    scenarios.push(("idle".to_string(), idle));
    for (name, scenario) in &scenarios {
        for model in ClockModel::ALL {
            for schedule in [Schedule::Sequential, Schedule::Concurrent] {
                let report = run_cluster(scenario, model, schedule).await;
                let log = shiviz::render(&report.history).expect("a recorded run draws");
                let lines = check_shiviz(&log).unwrap_or_else(|problem| {
                    panic!("{name} {} {}: {problem}", model.name(), schedule.name())
                });
                assert_eq!(lines.len(), report.history.len());
                let names: Vec<String> = report
                    .history
                    .table
                    .processes()
                    .iter()
                    .map(|process| process.to_string())
                    .collect();
                let mut recorded: HashMap<(String, u64), BTreeMap<String, u64>> = HashMap::new();
                for event in report.history.iter() {
                    let clock = names
                        .iter()
                        .zip(&event.vector)
                        .filter(|(_, entry)| **entry > 0)
                        .map(|(name, entry)| (name.clone(), *entry))
                        .collect();
                    recorded.insert((event.process.to_string(), event.seq), clock);
                }
                for line in &lines {
                    let own = line.clock[&line.host];
                    assert_eq!(
                        Some(&line.clock),
                        recorded.get(&(line.host.clone(), own)),
                        "{name}: {}-{own}",
                        line.host
                    );
                }
                if name == "idle" {
                    assert!(!log.contains("B2"), "{log}");
                }
            }
        }
    }
}

/// The checker above is not a rubber stamp: a gap in a host's own entries, an entry for a
/// host that never reached it, a clock that knows an event but not that event's past, and a
/// line before its cause are refused.
#[test]
fn the_shiviz_checker_refuses_broken_logs() {
    let head = format!("{}\n\n", shiviz::REGEX);
    let good = format!(
        "{head}C1 {{\"C1\":1}} deposit_send event=1 lamport=0\n\
         B1 {{\"B1\":1,\"C1\":1}} deposit_request event=1 lamport=1\n"
    );
    assert!(
        check_shiviz(&good).is_ok(),
        "{:?}",
        check_shiviz(&good).err()
    );
    let gap = good.replace("{\"B1\":1,\"C1\":1}", "{\"B1\":2,\"C1\":1}");
    assert!(check_shiviz(&gap).is_err());
    let unreached = good.replace("{\"B1\":1,\"C1\":1}", "{\"B1\":1,\"C1\":2}");
    assert!(check_shiviz(&unreached).is_err());
    // B knows C's event but not A's event, which C's event knows.
    let partial = format!(
        "{head}A {{\"A\":1}} deposit_send event=1 lamport=1\n\
         C {{\"C\":1,\"A\":1}} deposit_request event=1 lamport=2\n\
         B {{\"B\":1,\"C\":1}} deposit_execute event=1 lamport=3\n"
    );
    assert_eq!(
        check_shiviz(&partial).err(),
        Some(r#"B {"B": 1, "C": 1}: ShiViz recomputes {"A": 1, "B": 1, "C": 1}"#.to_string())
    );
    let out_of_order = format!(
        "{head}B1 {{\"B1\":1,\"C1\":1}} deposit_request event=1 lamport=1\n\
         C1 {{\"C1\":1}} deposit_send event=1 lamport=0\n"
    );
    assert!(check_shiviz(&out_of_order).is_err());
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
}

/// `render` of a saved trace draws byte for byte the SVG, HTML and ShiViz log of the run that
/// wrote it (the input's name travels in the trace header).
#[test]
fn render_of_a_saved_trace_draws_the_same_pictures_as_the_run() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = |name: &str| dir.path().join(name);
    let run = binary()
        .arg("run")
        .arg(examples_dir().join("wide.json"))
        .args(["--clocks", "strict", "--concurrent", "--output"])
        .arg(path("out.json"))
        .arg("--trace")
        .arg(path("run.jsonl"))
        .arg("--svg")
        .arg(path("run.svg"))
        .arg("--html")
        .arg(path("run.html"))
        .arg("--shiviz")
        .arg(path("run.shiviz"))
        .output()
        .expect("the binary runs");
    assert!(run.status.success(), "{run:?}");
    let output = binary()
        .arg("render")
        .arg(path("run.jsonl"))
        .arg("--svg")
        .arg(path("render.svg"))
        .arg("--html")
        .arg(path("render.html"))
        .arg("--shiviz")
        .arg(path("render.shiviz"))
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{output:?}");
    for extension in ["svg", "html", "shiviz"] {
        let run = std::fs::read(path(&format!("run.{extension}"))).expect("written by run");
        let render =
            std::fs::read(path(&format!("render.{extension}"))).expect("written by render");
        assert!(run == render, "{extension} differs");
    }
    let svg = std::fs::read_to_string(path("run.svg")).expect("written by run");
    assert!(svg.contains("wide.json"), "the title names the input");
}

/// `render` refuses a broken trace file with exit status 2 and one line naming the file, the
/// line and the problem.
#[test]
fn render_refuses_a_broken_trace_in_one_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let trace = dir.path().join("broken.jsonl");
    std::fs::write(
        &trace,
        "{\"lamport_bank_trace\":1,\"clocks\":\"original\",\"schedule\":\"sequential\",\"processes\":[\"B1\"]}\n\
         {\"process\":\"B1\",\"seq\":2,\"event\":\"deposit_execute\",\"id\":1,\"lamport\":1}\n",
    )
    .expect("written");
    let output = binary()
        .arg("render")
        .arg(&trace)
        .arg("--svg")
        .arg(dir.path().join("out.svg"))
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "{}: process B1: event number 2 where 1 was expected\n",
            trace.display()
        )
    );
    assert!(!dir.path().join("out.svg").exists());
    let missing = dir.path().join("missing.jsonl");
    let output = binary()
        .arg("render")
        .arg(&missing)
        .arg("--shiviz")
        .arg(dir.path().join("out.log"))
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("{}: cannot read: ", missing.display())),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}

/// A simulated run with faults shows them: a shaded band for the partition that held messages
/// up, and one dashed "lost" arrow per message that had to be sent again.
#[test]
fn a_simulated_partition_is_drawn_as_a_band_and_lost_messages_as_dashed_arrows() {
    use lamport_bank::model::Schedule;
    use lamport_bank::sim::plan::FaultSet;
    use lamport_bank::sim::{self as simulate, SimConfig};
    use lamport_bank::trace::Fault;
    let config = SimConfig {
        seed: 3,
        faults: FaultSet::ALL,
        schedule: Schedule::Concurrent,
        ..SimConfig::default()
    };
    let report = simulate::simulate(&common::example("sample"), &config);
    let svg = lamport_bank::picture::svg::render(&report.run.history).expect("drawn");
    let document = roxmltree::Document::parse(&svg).expect("the SVG is XML");
    let mut retried: Vec<String> = report
        .run
        .history
        .faults
        .iter()
        .filter_map(|record| match &record.fault {
            Fault::Retry { message, .. } => Some(message.to_string()),
            _ => None,
        })
        .collect();
    retried.sort();
    retried.dedup();
    assert!(!retried.is_empty(), "seed 3 loses some deliveries");
    let mut lost: Vec<String> = with_class(&document, "lost")
        .iter()
        .filter_map(|node| node.attribute("data-message").map(str::to_string))
        .collect();
    lost.sort();
    assert_eq!(lost, retried);
    let bands = with_class(&document, "band");
    assert_eq!(bands.len(), 1, "one partition held messages up");
    let title = bands[0]
        .descendants()
        .find(|node| node.has_tag_name("title"))
        .and_then(|node| node.text());
    assert_eq!(title, Some("partition B2 ⇄ B3 (42–774 ms)"));
    // The long subtitle of a picture with faults fits: the picture is made wide enough for it.
    let root = document.root_element();
    let width: i64 = root
        .attribute("width")
        .and_then(|width| width.parse().ok())
        .expect("a width");
    let subtitle = with_class(&document, "subtitle")[0]
        .text()
        .expect("a subtitle")
        .chars()
        .count() as i64;
    use lamport_bank::picture::geometry::{SUBTITLE_CHAR_WIDTH, TEXT_LEFT};
    assert!(
        width >= TEXT_LEFT + SUBTITLE_CHAR_WIDTH * subtitle,
        "{width} px for {subtitle} characters"
    );
}

/// A crash is drawn on the crashed branch's lane, once, named with its restart, and placed
/// between the last event the branch's store kept and its first event after the restart.
#[test]
fn a_simulated_crash_is_drawn_across_the_crashed_branchs_lane() {
    use lamport_bank::model::Process;
    use lamport_bank::sim::plan::FaultSet;
    use lamport_bank::sim::{self as simulate, SimConfig};
    use lamport_bank::trace::Fault;
    let faults = FaultSet::parse("crash").expect("valid");
    let mut drawn = 0;
    for seed in 1..=20 {
        let config = SimConfig {
            seed,
            faults,
            ..SimConfig::default()
        };
        let report = simulate::simulate(
            &simulate::sweep::workload(seed, Default::default()),
            &config,
        );
        let history = &report.run.history;
        let restart = history.faults.iter().find_map(|record| match record.fault {
            Fault::Restart { branch, events, .. } => Some((branch, events, record.at_ms)),
            _ => None,
        });
        let Some((branch, kept, restarted_at)) = restart else {
            continue;
        };
        let lane = history
            .table
            .processes()
            .iter()
            .position(|process| *process == Process::Branch(branch))
            .expect("a lane");
        let kept = usize::try_from(kept).expect("small");
        if kept == 0 || kept >= history.events[lane].len() {
            continue;
        }
        let svg = lamport_bank::picture::svg::render(history).expect("drawn");
        let document = roxmltree::Document::parse(&svg).expect("the SVG is XML");
        let crashes = with_class(&document, "crash");
        assert_eq!(crashes.len(), 1, "seed {seed}: one crash");
        let name = Process::Branch(branch).to_string();
        assert_eq!(crashes[0].attribute("data-branch"), Some(name.as_str()));
        let title = crashes[0]
            .descendants()
            .find(|node| node.has_tag_name("title"))
            .and_then(|node| node.text())
            .unwrap_or_default();
        assert!(
            title.starts_with(&format!("crash {name} at "))
                && title.contains(&format!("restart at {restarted_at} ms")),
            "seed {seed}: {title}"
        );
        // The zigzag's x, between the dots of the last kept event and the next one.
        let x_of = |seq: usize| {
            let seq = seq.to_string();
            with_class(&document, "event")
                .iter()
                .find(|node| {
                    node.attribute("data-process") == Some(name.as_str())
                        && node.attribute("data-seq") == Some(seq.as_str())
                })
                .and_then(|node| node.attribute("data-x"))
                .and_then(|x| x.parse::<i64>().ok())
                .expect("the event is drawn")
        };
        let path = crashes[0]
            .descendants()
            .find(|node| node.has_tag_name("path"))
            .and_then(|node| node.attribute("d"))
            .unwrap_or_default();
        let first_x: i64 = path
            .trim_start_matches('M')
            .split(',')
            .next()
            .and_then(|x| x.parse().ok())
            .expect("a path");
        // The path starts 3 px right of the mark's x.
        let middle = first_x - 3;
        let (before, after) = (x_of(kept), x_of(kept + 1));
        assert!(before <= middle && middle <= after, "seed {seed}: {path}");
        drawn += 1;
    }
    assert!(drawn > 0, "no seed crashed a branch mid-run");
}

/// The width of a label's character, as the picture estimates it.
const LABEL_CHAR_WIDTH: f64 = lamport_bank::picture::geometry::LABEL_CHAR_WIDTH as f64;

/// Each label's box, from its `x`, `y`, `text-anchor`, `font-size` and length (plus the
/// `translate` of the event it labels): `LABEL_CHAR_WIDTH` per character, the font size above
/// the baseline and a quarter of it below.
fn label_boxes(document: &roxmltree::Document) -> Vec<(String, [f64; 4])> {
    with_class(document, "label")
        .into_iter()
        .map(|text| {
            let (mut x, mut y) = (number(text, "x"), number(text, "y"));
            if let Some(event) = text.ancestors().find(|node| {
                node.attribute("class")
                    .is_some_and(|class| class.split_whitespace().any(|c| c == "event"))
            }) {
                x += number(event, "data-x");
                y += number(event, "data-y");
            }
            let font = number(text, "font-size");
            let content = text.text().unwrap_or_default();
            let width = content.chars().count() as f64 * LABEL_CHAR_WIDTH;
            let left = match text.attribute("text-anchor") {
                Some("middle") => x - width / 2.0,
                Some("end") => x - width,
                _ => x,
            };
            let owner = text
                .ancestors()
                .find_map(|node| node.attribute("id").or(node.attribute("data-message")))
                .unwrap_or("?");
            (
                format!("{content:?} of {owner}"),
                [left, y - font, left + width, y + font / 4.0],
            )
        })
        .collect()
}

/// Every arrow's segment: the messages' lines and the dashed lines of lost deliveries.
fn arrow_segments(document: &roxmltree::Document) -> Vec<(String, [f64; 4])> {
    document
        .descendants()
        .filter(|node| node.has_tag_name("line"))
        .filter(|line| {
            let class = |node: roxmltree::Node, name: &str| {
                node.attribute("class")
                    .is_some_and(|classes| classes.split_whitespace().any(|c| c == name))
            };
            class(*line, "message") || line.parent().is_some_and(|parent| class(parent, "lost"))
        })
        .map(|line| {
            let name = line
                .attribute("data-message")
                .or(line
                    .parent()
                    .and_then(|parent| parent.attribute("data-message")))
                .unwrap_or("?")
                .to_string();
            let ends = ["x1", "y1", "x2", "y2"].map(|attribute| number(line, attribute));
            (name, ends)
        })
        .collect()
}

/// Whether the segment `[x1, y1, x2, y2]` meets the box `[left, top, right, bottom]`: the
/// segment is sampled finely (every 0.25 px), independently of the picture's own clipping.
fn crosses(segment: [f64; 4], area: [f64; 4]) -> bool {
    let [x1, y1, x2, y2] = segment;
    let steps = (((x2 - x1).hypot(y2 - y1)) * 4.0).ceil().max(1.0) as usize;
    (0..=steps).any(|step| {
        let t = step as f64 / steps as f64;
        let (x, y) = (x1 + (x2 - x1) * t, y1 + (y2 - y1) * t);
        area[0] <= x && x <= area[2] && area[1] <= y && y <= area[3]
    })
}

/// The labels of `svg` that an arrow crosses, one line each.
fn crossed_labels(svg: &str) -> Vec<String> {
    let document = roxmltree::Document::parse(svg).expect("the SVG is XML");
    let labels = label_boxes(&document);
    assert!(!labels.is_empty(), "the picture has labels");
    let mut crossed = Vec::new();
    for (message, segment) in arrow_segments(&document) {
        for (label, area) in &labels {
            if crosses(segment, *area) {
                crossed.push(format!("arrow {message} crosses {label}"));
            }
        }
    }
    crossed
}

/// No arrow crosses a label: every clock and note is placed where no message's line meets its
/// box, estimated from its font size and length; in the sample under every clock model and
/// both schedules, and in the wide example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_arrow_crosses_a_label() {
    let mut runs = Vec::new();
    for model in ClockModel::ALL {
        for schedule in [Schedule::Sequential, Schedule::Concurrent] {
            let report = run_cluster(&example("sample"), model, schedule).await;
            let name = format!("sample {} {}", model.name(), schedule.name());
            runs.push((name, svg::render(&report.history).expect("drawn")));
        }
    }
    for schedule in [Schedule::Sequential, Schedule::Concurrent] {
        let report = run_cluster(&example("wide"), ClockModel::Strict, schedule).await;
        let name = format!("wide strict {}", schedule.name());
        runs.push((name, svg::render(&report.history).expect("drawn")));
    }
    for (name, text) in runs {
        let crossed = crossed_labels(&text);
        assert!(crossed.is_empty(), "{name}:\n{}", crossed.join("\n"));
    }
}

/// The sample simulated with seed 3 and every fault (a partition, lost deliveries, a crash).
fn faulty_run() -> (String, History) {
    use lamport_bank::sim::plan::FaultSet;
    use lamport_bank::sim::{self as simulate, SimConfig};
    let config = SimConfig {
        seed: 3,
        faults: FaultSet::ALL,
        schedule: Schedule::Concurrent,
        ..SimConfig::default()
    };
    let report = simulate::simulate(&example("sample"), &config);
    ("sample seed 3, every fault".to_string(), report.run.history)
}

/// No arrow crosses a label in a simulated run with every fault either: the fault texts
/// (the band's, the crash's, the lost delivery's `×N`) and the lost deliveries' dashed lines
/// count too.
#[test]
fn no_arrow_crosses_a_label_of_a_faulty_run() {
    let (name, history) = faulty_run();
    let text = svg::render(&history).expect("drawn");
    let document = roxmltree::Document::parse(&text).expect("the SVG is XML");
    for class in ["band", "crash", "lost"] {
        assert!(
            !with_class(&document, class).is_empty(),
            "{name} draws a {class}"
        );
    }
    let crossed = crossed_labels(&text);
    assert!(crossed.is_empty(), "{name}:\n{}", crossed.join("\n"));
}

/// The kinds of symbol the diagram of `document` draws (outside its legend), by class name.
fn drawn_symbols(document: &roxmltree::Document) -> BTreeSet<String> {
    let mut drawn = BTreeSet::new();
    for event in with_class(document, "event") {
        drawn.insert(event.attribute("data-mark").expect("a mark").to_string());
    }
    if !with_class(document, "cross").is_empty() {
        drawn.insert("rejected".to_string());
    }
    for message in with_class(document, "message") {
        drawn.insert(message.attribute("data-kind").expect("a kind").to_string());
        if message
            .attribute("class")
            .is_some_and(|class| class.contains("unmerged"))
        {
            drawn.insert("unmerged".to_string());
        }
    }
    for band in with_class(document, "band") {
        let class = band.attribute("class").unwrap_or_default();
        drawn.extend(class.split_whitespace().skip(1).map(str::to_string));
    }
    for class in ["crash", "lost"] {
        if !with_class(document, class).is_empty() {
            drawn.insert(class.to_string());
        }
    }
    drawn
}

/// The symbols the legend of `document` lists, from its `legend-<symbol>` items.
fn legend_symbols(document: &roxmltree::Document) -> BTreeSet<String> {
    let legend = with_class(document, "legend");
    legend
        .iter()
        .flat_map(|legend| legend.descendants())
        .filter_map(|node| node.attribute("class"))
        .flat_map(str::split_whitespace)
        .filter_map(|class| class.strip_prefix("legend-"))
        .map(str::to_string)
        .collect()
}

/// The legend lists every kind of symbol the diagram draws, fault marks included, and only
/// those: in a simulated run with every fault (a partition band, a crash, a lost delivery) and
/// in a run of a rejected withdraw, whose legend has no fault row.
#[test]
fn the_legend_lists_every_symbol_drawn_and_only_those() {
    let (name, history) = faulty_run();
    let mut runs = vec![(name, history)];
    let scenario = input::parse(
        "rejected.json",
        r#"[{"id": 1, "type": "branch", "balance": 100}, {"id": 2, "type": "branch", "balance": 100},
            {"id": 1, "type": "customer", "events": [{"id": 1, "interface": "withdraw", "money": 500},
                                                     {"id": 2, "interface": "query"}]}]"#,
    )
    .expect("a valid input");
    let plain = lamport_bank::sim::simulate(&scenario, &lamport_bank::sim::SimConfig::default());
    runs.push(("a rejected withdraw".to_string(), plain.run.history));
    for (name, history) in runs {
        let text = svg::render(&history).expect("drawn");
        let document = roxmltree::Document::parse(&text).expect("the SVG is XML");
        let drawn = drawn_symbols(&document);
        assert_eq!(legend_symbols(&document), drawn, "{name}");
        for symbol in ["receive", "request", "reply"] {
            assert!(drawn.contains(symbol), "{name} draws a {symbol}");
        }
        let faults = ["partition", "crash", "lost"].map(|symbol| drawn.contains(symbol));
        if name.contains("fault") {
            assert_eq!(faults, [true; 3], "{name}");
        } else {
            assert!(drawn.contains("rejected"), "{name}");
            assert_eq!(faults, [false; 3], "{name}");
            assert!(!text.contains(">faults</text>"), "{name}: no fault row");
        }
    }
}

/// A scenario too wide to draw whole: 16 branches, each customer making 10 deposits.
fn wide_workload(dir: &std::path::Path) -> std::path::PathBuf {
    let mut items: Vec<String> = (1..=16)
        .map(|id| format!(r#"{{"id": {id}, "type": "branch", "balance": 1000}}"#))
        .collect();
    for id in 1..=16 {
        let events: Vec<String> = (1..=10)
            .map(|n| {
                let event = (id - 1) * 10 + n;
                format!(r#"{{"id": {event}, "interface": "deposit", "money": 5}}"#)
            })
            .collect();
        items.push(format!(
            r#"{{"id": {id}, "type": "customer", "events": [{}]}}"#,
            events.join(", ")
        ));
    }
    let path = dir.join("wide16.json");
    std::fs::write(&path, format!("[{}]", items.join(",\n"))).expect("written");
    path
}

/// `--svg` of a picture wider than the limit writes no SVG and ends with exit status 2 and
/// one line naming the width, the limit and the flags; the run's other outputs are written.
/// `--svg-lamport FROM..TO` draws only the events in that range, and says so in its subtitle;
/// `--svg-first N` the first N events; `--svg-full` draws every event. A malformed range is refused in one line before the run.
#[test]
fn a_picture_too_wide_is_refused_and_drawn_in_part_or_whole_on_demand() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let input = wide_workload(dir.path());
    let path = |name: &str| dir.path().join(name);
    let run = binary()
        .arg("simulate")
        .arg(&input)
        .arg("--svg")
        .arg(path("run.svg"))
        .arg("--trace")
        .arg(path("run.jsonl"))
        .output()
        .expect("the binary runs");
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    let expected = format!("--svg {}: the picture would be ", path("run.svg").display());
    assert!(last.starts_with(&expected), "{stderr}");
    assert!(
        last.ends_with(
            " px wide (limit 20000): draw a part of it with --svg-lamport FROM..TO or \
             --svg-first N, or the whole with --svg-full, or open it with --html"
        ),
        "{last}"
    );
    assert_eq!(stderr.matches("--svg-lamport").count(), 1, "{stderr}");
    assert!(!path("run.svg").exists(), "no SVG is written");
    assert!(path("run.jsonl").exists(), "the trace is written");
    assert!(!run.stdout.is_empty(), "the output is written");

    let render = |args: &[&str], out: &str| {
        binary()
            .arg("render")
            .arg(path("run.jsonl"))
            .arg("--svg")
            .arg(path(out))
            .args(args)
            .output()
            .expect("the binary runs")
    };
    let full = render(&["--svg-full"], "full.svg");
    assert!(full.status.success(), "{full:?}");
    let window = render(&["--svg-lamport", "40..80"], "window.svg");
    assert!(window.status.success(), "{window:?}");
    let full = std::fs::read_to_string(path("full.svg")).expect("written");
    let full = roxmltree::Document::parse(&full).expect("the SVG is XML");
    let window = std::fs::read_to_string(path("window.svg")).expect("written");
    let window = roxmltree::Document::parse(&window).expect("the SVG is XML");
    let lamports = |document: &roxmltree::Document| -> Vec<u64> {
        with_class(document, "event")
            .iter()
            .map(|event| number(*event, "data-lamport") as u64)
            .collect()
    };
    let all = lamports(&full);
    assert_eq!(all.len(), 16 * 10 * 50, "every event of the run is drawn");
    let in_range = all
        .iter()
        .filter(|lamport| (40..=80).contains(*lamport))
        .count();
    let shown = lamports(&window);
    assert_eq!(shown.len(), in_range);
    assert!(shown.iter().all(|lamport| (40..=80).contains(lamport)));
    let max = all.iter().max().expect("events");
    let subtitle = with_class(&window, "subtitle")[0]
        .text()
        .expect("a subtitle");
    let arrows = with_class(&window, "message").len();
    let all_arrows = with_class(&full, "message").len();
    let all_arrows = format!("{},{:03}", all_arrows / 1000, all_arrows % 1000);
    assert!(
        subtitle.starts_with(&format!(
            "Lamport 40..80 of 0..{max}: {in_range} of 8,000 events, {arrows} of {all_arrows} \
             messages shown · clocks original"
        )),
        "{subtitle}"
    );
    let first = render(&["--svg-first", "100"], "first.svg");
    assert!(first.status.success(), "{first:?}");
    let first = std::fs::read_to_string(path("first.svg")).expect("written");
    let first = roxmltree::Document::parse(&first).expect("the SVG is XML");
    assert_eq!(with_class(&first, "event").len(), 100);
    let subtitle = with_class(&first, "subtitle")[0]
        .text()
        .expect("a subtitle");
    assert!(
        subtitle.starts_with("the first 100 events in causal order: 100 of 8,000 events, "),
        "{subtitle}"
    );
    for (range, problem) in [
        ("5..2", "FROM is after TO (give 2..5)"),
        (
            "x..3",
            "\"x\" is not a Lamport clock (a whole number, e.g. 40..80)",
        ),
    ] {
        let refused = render(&["--svg-lamport", range], "refused.svg");
        assert_eq!(refused.status.code(), Some(2));
        assert_eq!(
            String::from_utf8_lossy(&refused.stderr),
            format!("--svg-lamport {range}: {problem}\n")
        );
    }
}

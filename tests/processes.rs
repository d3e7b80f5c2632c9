//! Branches as their own processes: the built binary started as `serve` on three "hosts" (the
//! loopback addresses 127.0.0.1, 127.0.0.2 and 127.0.0.3, each on a free port), and runs of
//! `run --cluster` against them. Every process is stopped at the end of its test.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

use common::{EXAMPLES, examples_dir, expected};
use lamport_bank::model::ClockModel;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
}

/// A free port on `host`, found by binding port 0 and letting it go.
fn free_address(host: &str) -> SocketAddr {
    let listener = TcpListener::bind((host, 0)).expect("a free port");
    listener.local_addr().expect("bound")
}

/// A cluster of `serve` processes, each stopped (SIGKILL) when dropped if still running.
struct Cluster {
    file: PathBuf,
    addresses: Vec<SocketAddr>,
    /// Kept running for the test; killed when the cluster is dropped.
    _servers: Vec<Server>,
    _dir: tempfile::TempDir,
}

/// One `serve` process and what it has said so far.
struct Server {
    child: Child,
    stderr: BufReader<ChildStderr>,
    said: String,
}

impl Server {
    /// Reads the server's log until a line contains `wanted`.
    fn wait_for(&mut self, wanted: &str) {
        loop {
            let mut line = String::new();
            let read = self.stderr.read_line(&mut line).expect("readable");
            assert!(
                read > 0,
                "the server ended before saying {wanted:?}: {}",
                self.said
            );
            self.said.push_str(&line);
            if line.contains(wanted) {
                return;
            }
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

/// Sends SIGTERM to every server, then waits for each to exit 0: stopped together, each
/// closes its links to the others, so none waits for a peer's stream.
fn stop_all(servers: &mut [Server]) {
    for server in servers.iter() {
        server.signal("-TERM");
    }
    for server in servers {
        let status = server.child.wait().expect("it ends");
        assert!(status.success(), "{status:?}: {}", server.said);
    }
}

impl Drop for Server {
    /// A server still running when its test ends (or fails) is killed.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a cluster file for branches `1..=hosts.len()` on `hosts`, each with `balance`.
fn cluster_file(dir: &Path, hosts: &[&str], balance: i64) -> (PathBuf, Vec<SocketAddr>) {
    let addresses: Vec<SocketAddr> = hosts.iter().map(|host| free_address(host)).collect();
    let mut text = String::from("clocks = \"original\"\n");
    for (index, address) in addresses.iter().enumerate() {
        text.push_str(&format!(
            "[[branch]]\nid = {}\naddress = \"{address}\"\nbalance = {balance}\n",
            index + 1
        ));
    }
    let file = dir.join("cluster.toml");
    std::fs::write(&file, text).expect("written");
    (file, addresses)
}

fn start(file: &Path, id: usize, extra: &[&str]) -> Server {
    start_logging(file, id, extra, "lamport_bank=info")
}

/// [`start`], logging as `RUST_LOG=filter` says.
fn start_logging(file: &Path, id: usize, extra: &[&str], filter: &str) -> Server {
    let mut child = binary()
        .env("RUST_LOG", filter)
        .arg("serve")
        .arg("--cluster")
        .arg(file)
        .args(["--id", &id.to_string()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut server = Server {
        child,
        stderr,
        said: String::new(),
    };
    server.wait_for("listening");
    server
}

/// The sample's three branches, each a process on its own loopback address.
fn three_hosts(extra: &[&str]) -> Cluster {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (file, addresses) = cluster_file(dir.path(), &["127.0.0.1", "127.0.0.2", "127.0.0.3"], 0);
    let servers = (1..=3).map(|id| start(&file, id, extra)).collect();
    Cluster {
        file,
        addresses,
        _servers: servers,
        _dir: dir,
    }
}

fn run(args: &[&str]) -> Output {
    binary().args(args).output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every example, in both clock models, run against three `serve` processes on three
/// addresses, gives exactly its expected output; a run is refused while the branches hold the
/// previous run's events, and `reset` makes them ready again.
#[test]
fn runs_on_a_cluster_of_processes_equal_the_expected_outputs() {
    for name in EXAMPLES {
        let input = examples_dir().join(format!("{name}.json"));
        let input = input.display().to_string();
        let ids: Vec<u32> = lamport_bank::scenario::input::load(&input)
            .expect("an example")
            .branches
            .iter()
            .map(|branch| branch.id.0)
            .collect();
        for model in [ClockModel::Original, ClockModel::Strict] {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let hosts: Vec<String> = (0..ids.len())
                .map(|i| format!("127.0.0.{}", i + 1))
                .collect();
            let addresses: Vec<SocketAddr> = hosts.iter().map(|h| free_address(h)).collect();
            let balance = if name == "wide" { 100 } else { 400 };
            let mut file_text = String::new();
            for (id, address) in ids.iter().zip(&addresses) {
                file_text.push_str(&format!(
                    "[[branch]]\nid = {id}\naddress = \"{address}\"\nbalance = {balance}\n"
                ));
            }
            let file = dir.path().join("cluster.toml");
            std::fs::write(&file, file_text).expect("written");
            let clocks = ["--clocks", model.name()];
            let mut servers: Vec<Server> = ids
                .iter()
                .map(|id| start(&file, *id as usize, &clocks))
                .collect();
            let file_arg = file.display().to_string();
            let mut args = vec!["run", &input, "--cluster", &file_arg];
            args.extend(clocks);
            let output = run(&args);
            assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
            let got: serde_json::Value =
                serde_json::from_slice(&output.stdout).expect("the output is JSON");
            assert_eq!(got, expected(name, model), "{name} in {}", model.name());
            let again = run(&args);
            assert_eq!(again.status.code(), Some(2), "a second run is refused");
            assert!(
                text(&again.stderr).contains("already holds another run's events"),
                "{}",
                text(&again.stderr)
            );
            stop_all(&mut servers);
        }
    }
}

/// `reset` returns branches started with `--allow-reset` to their initial state, after which
/// the same run can be made again and gives the same output; without the flag it is refused.
#[test]
fn reset_makes_a_cluster_ready_for_another_run() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (file, _) = cluster_file(dir.path(), &["127.0.0.1", "127.0.0.2", "127.0.0.3"], 400);
    let mut servers: Vec<Server> = (1..=3)
        .map(|id| start(&file, id, &["--allow-reset"]))
        .collect();
    let file = file.display().to_string();
    let input = examples_dir().join("requests.json").display().to_string();
    let first = run(&["run", &input, "--cluster", &file]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let reset = run(&["reset", "--cluster", &file]);
    assert_eq!(reset.status.code(), Some(0), "{}", text(&reset.stderr));
    assert_eq!(
        text(&reset.stderr),
        "reset: 3 branches back to their initial state\n"
    );
    let second = run(&["run", &input, "--cluster", &file]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert_eq!(first.stdout, second.stdout);
    stop_all(&mut servers);

    let unresettable = three_hosts(&[]);
    let file = unresettable.file.display().to_string();
    let refused = run(&["reset", "--cluster", &file]);
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        text(&refused.stderr),
        format!(
            "{}: B1 was not started with --allow-reset\n",
            unresettable.addresses[0]
        )
    );
}

/// A bad cluster file, or an input that is not the cluster's, is refused in one line before
/// anything runs.
#[test]
fn bad_cluster_files_are_refused_in_one_line() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let cases = [
        (
            "[[branch]]\nid = 1\naddress = \"127.0.0.1:1\"\nbalance = 4\n[[branch]]\nid = 1\naddress = \"127.0.0.1:2\"\nbalance = 4\n",
            "branch B1: duplicate id",
        ),
        (
            "[[branch]]\nid = 1\naddress = \"localhost\"\nbalance = 4\n",
            "branch B1: address \"localhost\" does not parse (expected like 127.0.0.1:50051)",
        ),
        (
            "[[branch]]\nid = 1\naddress = \"127.0.0.1:1\"\nbalance = 4\n[[branch]]\nid = 2\naddress = \"127.0.0.1:2\"\nbalance = 5\n",
            "branch B2: balance 5 differs from B1's 4",
        ),
        (
            "clocks = \"fast\"\n",
            "clocks must be original, strict or messages, got \"fast\"",
        ),
        ("", "no [[branch]] entries"),
    ];
    for (contents, problem) in cases {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, contents).expect("written");
        let file = file.display().to_string();
        let output = run(&["serve", "--cluster", &file, "--id", "1"]);
        assert_eq!(output.status.code(), Some(2), "{problem}");
        assert_eq!(text(&output.stderr), format!("{file}: {problem}\n"));
    }
    let (file, _) = cluster_file(dir.path(), &["127.0.0.1"], 400);
    let file = file.display().to_string();
    let output = run(&["serve", "--cluster", &file, "--id", "9"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "--id 9: the cluster file has no branch 9\n"
    );
    let sample = examples_dir().join("sample.json").display().to_string();
    let output = run(&["run", &sample, "--cluster", &file]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        format!("{sample}: the input's branches (B1, B2, B3) are not the cluster's (B1)\n")
    );
}

/// A `serve` process is a well-behaved gRPC service: health says SERVING, and reflection lists
/// the branch, admin, health and reflection services.
#[tokio::test]
async fn health_and_reflection_answer() {
    use lamport_bank::wire::pb::FILE_DESCRIPTOR_SET;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let cluster = three_hosts(&[]);
    let url = format!("http://{}", cluster.addresses[1]);
    let channel = tonic::transport::Endpoint::from_shared(url)
        .expect("a URI")
        .connect()
        .await
        .expect("connected");
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "lamport_bank.v1.Branch"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .expect("answered")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("answered")
        .into_inner();
    let reply = replies.message().await.expect("a reply").expect("one");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("not a list: {reply:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "lamport_bank.v1.Admin",
            "lamport_bank.v1.Branch"
        ]
    );
    assert!(!FILE_DESCRIPTOR_SET.is_empty());
}

/// SIGTERM drains a branch: a deposit in flight (waiting for a peer that is not up yet) is
/// still answered, a new call is refused with UNAVAILABLE, and the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_calls_in_flight() {
    use lamport_bank::wire::pb::{
        BeginRequest, ChangeRequest, QueryRequest, Stamp, admin_client::AdminClient,
        branch_client::BranchClient,
    };

    let dir = tempfile::tempdir().expect("a temporary folder");
    let (file, addresses) = cluster_file(dir.path(), &["127.0.0.1", "127.0.0.2"], 10);
    let mut first = start_logging(&file, 1, &[], "lamport_bank=debug");
    let channel = |address: SocketAddr| {
        tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .expect("a URI")
            .connect_lazy()
    };
    let begin = BeginRequest {
        processes: ["B1", "B2", "C1"].map(String::from).to_vec(),
        clocks: "original".to_string(),
    };
    AdminClient::new(channel(addresses[0]))
        .begin(begin.clone())
        .await
        .expect("begun");
    let stamp = |message| {
        Some(Stamp {
            clock: 0,
            vector: Vec::new(),
            message,
        })
    };
    let mut customer = BranchClient::new(channel(addresses[0]));
    let deposit = {
        let mut customer = customer.clone();
        tokio::spawn(async move {
            customer
                .deposit(ChangeRequest {
                    customer_id: 1,
                    event_id: 1,
                    money: 5,
                    stamp: stamp(1),
                    ..Default::default()
                })
                .await
        })
    };
    // The deposit is in flight once B1 has executed it and waits for B2: its log says so.
    first.wait_for("a propagation stream failed");
    first.signal("-TERM");
    // Logged once the branch takes no new call.
    first.wait_for("stopping");
    let refused = customer
        .query(QueryRequest {
            customer_id: 1,
            event_id: 2,
            stamp: stamp(2),
            ..Default::default()
        })
        .await
        .expect_err("refused while draining");
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert_eq!(
        refused.message(),
        "B1 is shutting down and takes no new calls"
    );

    let _second = start(&file, 2, &[]);
    AdminClient::new(channel(addresses[1]))
        .begin(begin)
        .await
        .expect("begun");
    let answered = deposit.await.expect("the task ran").expect("answered");
    assert_eq!(answered.into_inner().balance, 15);
    let status = first.child.wait().expect("it ends");
    assert!(status.success(), "{status:?}: {}", first.said);
    let mut rest = String::new();
    first.stderr.read_to_string(&mut rest).expect("readable");
    assert!(rest.contains("stopped"), "{}{rest}", first.said);
}

/// An input of three branches (balance 400) and three customers, each making `events`
/// requests: deposits of varied sizes, withdraws (some over the balance) and queries.
fn busy_input(dir: &Path, events: u64) -> PathBuf {
    let mut processes: Vec<serde_json::Value> = (1..=3)
        .map(|id| serde_json::json!({"id": id, "type": "branch", "balance": 400}))
        .collect();
    let mut next = 1;
    for customer in 1..=3u64 {
        let events: Vec<serde_json::Value> = (0..events)
            .map(|n| {
                let id = next;
                next += 1;
                match n % 4 {
                    0 | 1 => serde_json::json!({"id": id, "interface": "deposit", "money": 1 + (n * 7 + customer) % 50}),
                    2 => serde_json::json!({"id": id, "interface": "withdraw", "money": 1 + (n * 13) % 300}),
                    _ => serde_json::json!({"id": id, "interface": "query"}),
                }
            })
            .collect();
        processes.push(serde_json::json!({"id": customer, "type": "customer", "events": events}));
    }
    let path = dir.join("busy.json");
    std::fs::write(&path, serde_json::to_string(&processes).expect("JSON")).expect("written");
    path
}

/// What the replicas must hold at the end of a run: the initial 400, plus every deposit and
/// minus every withdraw that its customer was told succeeded, from the run's results file and
/// its input.
fn balance_from_results(input: &Path, results: &Path) -> i64 {
    let input: serde_json::Value =
        serde_json::from_slice(&std::fs::read(input).expect("readable")).expect("JSON");
    let mut money = std::collections::HashMap::new();
    for process in input.as_array().expect("an array") {
        for event in process["events"].as_array().into_iter().flatten() {
            money.insert(event["id"].as_u64(), event["money"].as_i64().unwrap_or(0));
        }
    }
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results).expect("readable")).expect("JSON");
    let mut balance = 400;
    for customer in results["customers"].as_array().expect("customers") {
        for result in customer["results"].as_array().expect("results") {
            if result["result"] == "success" {
                let amount = money[&result["event"].as_u64()];
                match result["interface"].as_str() {
                    Some("deposit") => balance += amount,
                    Some("withdraw") => balance -= amount,
                    other => panic!("success for {other:?}"),
                }
            }
        }
    }
    balance
}

/// Waits until `path` has grown past `bytes` (the branch has committed that much), for 30 s
/// at most.
fn wait_for_growth(path: &Path, bytes: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::metadata(path).map_or(0, |meta| meta.len()) < bytes {
        assert!(
            std::time::Instant::now() < deadline,
            "{} did not grow past {bytes} bytes",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Three branches with `--data`; branch 2 is killed with SIGKILL in the middle of a concurrent
/// run, and started again on the same data: the run completes, `check` passes on its trace,
/// and every replica holds the initial balance plus the deposits and minus the withdraws its
/// customers were told succeeded: nothing acknowledged was lost, nothing applied twice.
#[test]
fn a_branch_killed_mid_run_comes_back_from_its_data_with_nothing_lost() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (file, _) = cluster_file(dir.path(), &["127.0.0.1", "127.0.0.2", "127.0.0.3"], 400);
    let data = |id: usize| dir.path().join(format!("b{id}"));
    let data_arg = |id: usize| data(id).display().to_string();
    let mut servers: Vec<Server> = (1..=3)
        .map(|id| start(&file, id, &["--data", &data_arg(id)]))
        .collect();
    let input = busy_input(dir.path(), 300);
    let (trace, results) = (
        dir.path().join("trace.jsonl"),
        dir.path().join("results.json"),
    );
    let mut customers = binary()
        .arg("run")
        .arg(&input)
        .arg("--cluster")
        .arg(&file)
        .arg("--concurrent")
        .arg("--trace")
        .arg(&trace)
        .arg("--results")
        .arg(&results)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // In the middle of the run: once branch 2 has committed some of it.
    wait_for_growth(&data(2).join("branch.sqlite-wal"), 64 * 1024);
    servers[1].child.kill().expect("killed");
    servers[1].child.wait().expect("ended");
    servers[1] = start(&file, 2, &["--data", &data_arg(2)]);
    assert!(
        servers[1].said.contains("state restored"),
        "{}",
        servers[1].said
    );
    let mut stderr = String::new();
    customers
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("readable");
    let status = customers.wait().expect("the run ends");
    assert_eq!(status.code(), Some(0), "{stderr}");
    let check = run(&["check", &trace.display().to_string()]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    // The kill came in the middle: branch 2 came back with some of its events, not all.
    let restored: u64 = regex::Regex::new(r"events=(\d+)")
        .expect("a regex")
        .captures(&servers[1].said)
        .and_then(|found| found[1].parse().ok())
        .expect("the restored event count is logged");
    let trace_text = std::fs::read_to_string(&trace).expect("readable");
    let at_b2 = trace_text
        .lines()
        .filter(|line| line.contains(r#""process":"B2""#))
        .count() as u64;
    assert!(
        0 < restored && restored < at_b2,
        "restored {restored} of {at_b2} events"
    );
    let expected = balance_from_results(&input, &results);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&results).expect("readable")).expect("JSON");
    for branch in report["branches"].as_array().expect("branches") {
        assert_eq!(branch["final"].as_i64(), Some(expected), "{branch}");
    }
    stop_all(&mut servers);
}

/// The same kill without `--data`: the restarted branch has lost its run, and the run stops
/// with a line that says so.
#[test]
fn a_branch_killed_mid_run_without_data_loses_its_state_and_the_run_says_so() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (file, _) = cluster_file(dir.path(), &["127.0.0.1", "127.0.0.2", "127.0.0.3"], 400);
    let mut servers: Vec<Server> = (1..=3)
        .map(|id| start_logging(&file, id, &[], "lamport_bank=debug"))
        .collect();
    let input = busy_input(dir.path(), 300);
    let customers = binary()
        .arg("run")
        .arg(&input)
        .arg("--cluster")
        .arg(&file)
        .arg("--concurrent")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // In the middle of the run: once branch 2 has executed some of its customer's requests.
    for _ in 0..20 {
        servers[1].wait_for("executed");
    }
    servers[1].child.kill().expect("killed");
    servers[1].child.wait().expect("ended");
    servers[1] = start(&file, 2, &[]);
    let output = customers.wait_with_output().expect("the run ends");
    let stderr = text(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("B2: no run has begun"), "{stderr}");
}

/// Waits for `server` to exit, for a minute at most (a hang fails the test instead of holding
/// it forever), and returns its status with the rest of its log.
fn exit_of(server: &mut Server) -> (std::process::ExitStatus, String) {
    let mut status = None;
    for _ in 0..1200 {
        status = server.child.try_wait().expect("waitable");
        if status.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let Some(status) = status else {
        panic!("still running a minute after SIGTERM: {}", server.said);
    };
    let mut rest = String::new();
    server.stderr.read_to_string(&mut rest).expect("readable");
    (status, format!("{}{rest}", server.said))
}

/// What a hostile neighbour can hold open: an idle TCP connection that never speaks HTTP/2,
/// a `Propagate` stream that sends nothing, and a call whose request stops after three bytes
/// of its message. None of them keeps SIGTERM from ending the branch: it closes what is still
/// open after the grace period and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_open_streams_and_half_sent_calls_do_not_hold_a_branch_at_sigterm() {
    use lamport_bank::wire::pb::{PropagateRequest, branch_client::BranchClient};

    let dir = tempfile::tempdir().expect("a temporary folder");
    let (file, addresses) = cluster_file(dir.path(), &["127.0.0.1", "127.0.0.2"], 10);
    let mut first = start_logging(&file, 1, &[], "lamport_bank=debug");
    let address = addresses[0];

    // Accepted first (the listen queue is in order), so accepted before the two below answer.
    let idle = tokio::net::TcpStream::connect(address)
        .await
        .expect("connected");

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .expect("a URI")
        .connect_lazy();
    let silent = futures_util::stream::pending::<PropagateRequest>();
    // Answered with its headers once the branch serves the stream.
    let _open_stream = BranchClient::new(channel)
        .propagate(silent)
        .await
        .expect("the stream is open");

    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .expect("connected");
    let (mut sender, mut connection) = h2::client::handshake(tcp).await.expect("HTTP/2");
    let ping_pong = connection.ping_pong().expect("a ping handle");
    let driver = tokio::spawn(connection);
    let request = http::Request::post(format!("http://{address}/lamport_bank.v1.Branch/Deposit"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("a request");
    let (_reply, mut body) = sender.send_request(request, false).expect("sent");
    // A gRPC message's 5-byte prefix, cut after 3: the branch waits for the rest.
    body.send_data(bytes::Bytes::from_static(&[0, 0, 0]), false)
        .expect("sent");
    let mut ping_pong = ping_pong;
    // The branch answers a ping after the frames before it: it holds the half-sent call.
    ping_pong.ping(h2::Ping::opaque()).await.expect("pong");

    first.signal("-TERM");
    let (status, said) = tokio::task::spawn_blocking(move || exit_of(&mut first))
        .await
        .expect("waited");
    assert!(status.success(), "{status:?}: {said}");
    assert!(
        said.contains("connections still open after the grace period: closed"),
        "{said}"
    );
    assert!(said.contains("stopped"), "{said}");
    drop(idle);
    driver.abort();
}

/// A connection that sends nothing (none of HTTP/2's preface), and one that stops in the middle
/// of the preface, are closed by the branch once `--idle-timeout` has passed.
#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_idle_timeout() {
    use std::io::Write;

    let dir = tempfile::tempdir().expect("a temporary folder");
    let (file, addresses) = cluster_file(dir.path(), &["127.0.0.1", "127.0.0.2"], 10);
    let mut first = start(&file, 1, &["--idle-timeout", "1"]);
    let mut silent = std::net::TcpStream::connect(addresses[0]).expect("connected");
    let mut halfway = std::net::TcpStream::connect(addresses[0]).expect("connected");
    halfway.write_all(b"PRI * HT").expect("written");
    for connection in [&mut silent, &mut halfway] {
        // Bounds the wait if the branch never closes it: the read then fails with WouldBlock.
        connection
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("set");
        // The branch speaks first (its HTTP/2 settings); then it closes the connection.
        let mut sent = Vec::new();
        match connection.read_to_end(&mut sent) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("still open, or not closed by the branch: {other:?}"),
        }
    }
    first.signal("-TERM");
    let (status, said) = exit_of(&mut first);
    assert!(status.success(), "{status:?}: {said}");
}

//! Branches in real containers: the built binary in an image made `FROM scratch` here (the
//! binary, the shared libraries `ldd` names and the dynamic loader: no registry is needed), on
//! a private Docker network per test with fixed addresses, with the customers in a container
//! of their own. Runs equal the expected outputs, a branch cut off the network for a few
//! seconds delays a run but does not break it, a branch killed mid-run comes back from its
//! volume with nothing lost, `docker stop` drains, and `deploy/compose.yaml`
//! runs the sample. The deployment files (compose, Kubernetes) are also read and checked
//! against the cluster file parser, without Docker.
//!
//! Without Docker (no `docker` command, or `docker info` fails) the container tests print
//! "skipped: ..." and return, except with `CI=true`, where they fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{examples_dir, expected};
use lamport_bank::model::{BranchId, ClockModel};
use lamport_bank::remote::ClusterFile;
use serde_json::Value;

/// The image the tests build from the test binary, also tagged `lamport-bank:latest` for the
/// compose file.
const IMAGE: &str = "lamport-bank:containers-test";
/// Where the binary is in the image (as in the Dockerfile's and the compose file's).
const BINARY_IN_IMAGE: &str = "/usr/local/bin/lamport-bank";
/// Every container and network a test creates carries this label.
const LABEL: &str = "lamport-bank-test=containers";
/// How long a branch may take to say it listens, or a run to end.
const READY: Duration = Duration::from_secs(20);
const RUN: Duration = Duration::from_secs(40);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `docker ARGS`, returning its output (whatever its status).
fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("docker runs")
}

/// Runs `docker ARGS` and fails the test unless it succeeds; its standard output, trimmed.
fn docker_ok(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        output.status.success(),
        "docker {}: {}{}",
        args.join(" "),
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout).trim().to_string()
}

/// Whether Docker works here: a `docker` command whose `docker info` succeeds.
fn docker_works() -> Result<(), String> {
    static WORKS: OnceLock<Result<(), String>> = OnceLock::new();
    WORKS
        .get_or_init(|| {
            match Command::new("docker")
                .args(["info", "--format", "{{.ServerVersion}}"])
                .stdin(Stdio::null())
                .output()
            {
                Err(error) => Err(format!("no docker command ({error})")),
                Ok(output) if !output.status.success() => Err(format!(
                    "`docker info` fails: {}",
                    text(&output.stderr).trim()
                )),
                Ok(_) => Ok(()),
            }
        })
        .clone()
}

/// Whether a test that needs Docker can go on: yes if it works; if not, a failure in CI and a
/// "skipped" line elsewhere.
fn need_docker() -> bool {
    match docker_works() {
        Ok(()) => true,
        Err(reason) => {
            assert!(
                !common::in_ci(),
                "CI=true, yet Docker is not usable: {reason}"
            );
            eprintln!("skipped: Docker is not usable here: {reason}");
            false
        }
    }
}

/// Builds (once per test binary) the image: `FROM scratch`, the test binary, and the shared
/// libraries and loader it is linked against, each at its path on this machine.
fn image() -> &'static str {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(build_image);
    if let Err(problem) = built {
        panic!("the test image could not be built: {problem}");
    }
    IMAGE
}

fn build_image() -> Result<(), String> {
    let binary = Path::new(env!("CARGO_BIN_EXE_lamport-bank"));
    let context = tempfile::tempdir().map_err(|error| error.to_string())?;
    let root = context.path().join("root");
    let place = |from: &Path, to: &Path| -> Result<(), String> {
        let target = root.join(to.strip_prefix("/").unwrap_or(to));
        let parent = target.parent().ok_or("a path without a parent")?;
        std::fs::create_dir_all(parent).map_err(|error| format!("{parent:?}: {error}"))?;
        // `copy` follows symbolic links: the image gets the files themselves.
        std::fs::copy(from, &target).map_err(|error| format!("{from:?}: {error}"))?;
        Ok(())
    };
    place(binary, Path::new(BINARY_IN_IMAGE))?;
    let ldd = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|error| format!("ldd: {error}"))?;
    if !ldd.status.success() {
        return Err(format!("ldd: {}", text(&ldd.stderr)));
    }
    // Lines like `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` and the loader's
    // `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file.
    let libraries: Vec<PathBuf> = text(&ldd.stdout)
        .lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next(),
                None => line.split_whitespace().next(),
            }?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect();
    if !libraries
        .iter()
        .any(|path| path.to_string_lossy().contains("ld-linux"))
    {
        return Err(format!(
            "no dynamic loader in ldd's output: {}",
            text(&ldd.stdout)
        ));
    }
    for library in &libraries {
        place(library, library)?;
    }
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM scratch\nCOPY root/ /\nENTRYPOINT [\"{BINARY_IN_IMAGE}\"]\n"),
    )
    .map_err(|error| error.to_string())?;
    let context_arg = context.path().display().to_string();
    let build = docker(&[
        "build",
        "--quiet",
        "--label",
        LABEL,
        "-t",
        IMAGE,
        "-t",
        "lamport-bank:latest",
        &context_arg,
    ]);
    if !build.status.success() {
        return Err(format!("docker build: {}", text(&build.stderr)));
    }
    Ok(())
}

/// Polls `condition` every 100 ms until it returns `Some`, or fails the test after `limit`
/// with `what`.
fn wait_until<T>(limit: Duration, what: &str, mut condition: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = condition() {
            return value;
        }
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A container's state: `running`, `exited`, ...
fn state(container: &str) -> String {
    docker_ok(&["inspect", "-f", "{{.State.Status}}", container])
}

/// Everything a container has written so far, standard output and error together.
fn logs(container: &str) -> String {
    let output = docker(&["logs", container]);
    format!("{}{}", text(&output.stdout), text(&output.stderr))
}

/// Waits (bounded) until `container` has exited; its exit code, standard output and error.
fn wait_exited(container: &str, limit: Duration) -> (i64, String, String) {
    wait_until(limit, &format!("{container} to exit"), || {
        (state(container) == "exited").then_some(())
    });
    let code = docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", container]);
    let output = docker(&["logs", container]);
    (
        code.parse().expect("an exit code"),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// Where a branch container keeps its state, and what else it is started with.
#[derive(Default)]
struct BranchOptions<'a> {
    /// A named volume mounted at `/data`, for durable state (`serve --data /data`): a
    /// container started again keeps it. Removed with the network.
    volume: Option<&'a str>,
    /// More arguments to `serve`.
    args: &'a [&'a str],
}

/// One test's private network (a /24 of its own), its folder (the cluster file, the inputs
/// and the outputs, bind-mounted into the containers) and every container started on it. All
/// are removed when it is dropped, also when the test fails.
struct Network {
    name: String,
    /// The first three octets of the subnet, e.g. `10.213.7`.
    prefix: String,
    dir: tempfile::TempDir,
    containers: Vec<String>,
    volumes: Vec<String>,
    branches: u32,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Network {
    /// A new network named after `test`, on a free subnet 10.213.X.0/24, with a cluster file
    /// of `branches` branches (at .11, .12, ...) that all start with `balance`.
    fn new(test: &str, branches: u32, balance: i64) -> Network {
        let name = format!("lamport-bank-test-{}-{test}", std::process::id());
        // Tests of this binary, and of other runs at once, start at different subnets and
        // take the next one while Docker says a subnet overlaps another network's.
        let start = std::process::id() * 7 + NEXT.fetch_add(1, Ordering::Relaxed) * 31;
        let mut refusals = Vec::new();
        let prefix = (0..64)
            .map(|step| format!("10.213.{}", (start + step * 13) % 250 + 2))
            .find(|prefix| {
                let subnet = format!("{prefix}.0/24");
                let created = docker(&[
                    "network", "create", "--label", LABEL, "--subnet", &subnet, &name,
                ]);
                if !created.status.success() {
                    refusals.push(text(&created.stderr));
                }
                created.status.success()
            })
            .unwrap_or_else(|| panic!("no free subnet for {name}: {refusals:?}"));
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut cluster = String::from("clocks = \"original\"\n");
        for id in 1..=branches {
            cluster.push_str(&format!(
                "[[branch]]\nid = {id}\naddress = \"{prefix}.{}:50051\"\nbalance = {balance}\n",
                10 + id
            ));
        }
        std::fs::write(dir.path().join("cluster.toml"), cluster).expect("written");
        Network {
            name,
            prefix,
            dir,
            containers: Vec::new(),
            volumes: Vec::new(),
            branches,
        }
    }

    fn branch_name(&self, id: u32) -> String {
        format!("{}-b{id}", self.name)
    }

    fn branch_ip(&self, id: u32) -> String {
        format!("{}.{}", self.prefix, 10 + id)
    }

    /// The host folder mounted at `/work` in every container.
    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `docker run -d` on this network at `ip`, remembered for removal.
    fn run_detached(&mut self, name: &str, ip: &str, options: &[&str], args: &[&str]) {
        self.containers.push(name.to_string());
        let mount = format!("{}:/work", self.dir().display());
        let mut command = vec![
            "run",
            "-d",
            "--name",
            name,
            "--label",
            LABEL,
            "--network",
            &self.name,
            "--ip",
            ip,
            "-v",
            &mount,
        ];
        command.extend(options);
        command.push(image());
        command.extend(args);
        docker_ok(&command);
    }

    /// Starts branch `id` and waits (bounded) until it says it listens.
    fn start_branch(&mut self, id: u32, options: BranchOptions) -> String {
        let name = self.branch_name(id);
        let ip = self.branch_ip(id);
        let mut docker_options = Vec::new();
        let volume_mount;
        if let Some(volume) = options.volume {
            self.volumes.push(volume.to_string());
            volume_mount = format!("{volume}:/data");
            docker_options.extend(["-v", volume_mount.as_str()]);
        }
        let id_arg = id.to_string();
        let mut args = vec![
            "serve",
            "--cluster",
            "/work/cluster.toml",
            "--id",
            &id_arg,
            "--listen",
            "0.0.0.0:50051",
            "--log-format",
            "json",
        ];
        args.extend(options.args);
        self.run_detached(&name, &ip, &docker_options, &args);
        self.wait_listening(&name);
        name
    }

    /// Waits (bounded) until branch container `name` has logged that it listens.
    fn wait_listening(&self, name: &str) {
        wait_until(READY, &format!("{name} to listen"), || {
            let said = logs(name);
            assert!(state(name) == "running", "{name} is not running: {said}");
            said.contains("\"listening\"").then_some(())
        });
    }

    /// Starts every branch of the cluster file, each ready.
    fn start_branches(&mut self, args: &[&str]) -> Vec<String> {
        (1..=self.branches)
            .map(|id| {
                self.start_branch(
                    id,
                    BranchOptions {
                        args,
                        ..Default::default()
                    },
                )
            })
            .collect()
    }

    /// Starts `lamport-bank ARGS` in a container of its own (at .100 and up), running as the
    /// owner of the shared folder so that what it writes there is the test's; returns its
    /// name at once.
    fn start_customers(&mut self, args: &[&str]) -> String {
        use std::os::unix::fs::MetadataExt;
        let index = self.containers.len();
        let name = format!("{}-c{index}", self.name);
        let ip = format!("{}.{}", self.prefix, 100 + index);
        let owner = std::fs::metadata(self.dir()).expect("the folder");
        let user = format!("{}:{}", owner.uid(), owner.gid());
        self.run_detached(&name, &ip, &["--user", &user], args);
        name
    }

    /// Runs `lamport-bank ARGS` in a container of its own to its end (bounded): its exit code,
    /// standard output and error.
    fn customers(&mut self, args: &[&str]) -> (i64, String, String) {
        let name = self.start_customers(args);
        wait_exited(&name, RUN)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if !self.containers.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(self.containers.iter().map(String::as_str));
            let _ = docker(&args);
        }
        let _ = docker(&["network", "rm", &self.name]);
        if !self.volumes.is_empty() {
            let mut args = vec!["volume", "rm", "-f"];
            args.extend(self.volumes.iter().map(String::as_str));
            let _ = docker(&args);
        }
    }
}

/// Copies `examples/NAME.json` into the network's folder; its path in the containers.
fn example_input(network: &Network, name: &str) -> String {
    let from = examples_dir().join(format!("{name}.json"));
    std::fs::copy(&from, network.dir().join(format!("{name}.json"))).expect("copied");
    format!("/work/{name}.json")
}

/// `lamport-bank check FILE` on this machine: its status and what it printed.
fn check(file: &Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .arg("check")
        .arg(file)
        .output()
        .expect("the binary runs");
    (
        output.status.code(),
        format!("{}{}", text(&output.stdout), text(&output.stderr)),
    )
}

fn read_json(path: &Path) -> Value {
    let read = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{path:?}: {error}"));
    serde_json::from_str(&read).unwrap_or_else(|error| panic!("{path:?}: {error}"))
}

/// The sample run by a customers container against three branch containers, one customer
/// after another, prints exactly the expected output; after `reset`, a concurrent run's trace
/// passes `check`.
#[test]
fn a_run_on_branch_containers_equals_the_expected_output() {
    if !need_docker() {
        return;
    }
    let mut network = Network::new("sample", 3, 400);
    network.start_branches(&["--allow-reset"]);
    let input = example_input(&network, "sample");
    let cluster = "/work/cluster.toml";
    let (code, stdout, stderr) = network.customers(&["run", &input, "--cluster", cluster]);
    assert_eq!(code, 0, "{stderr}");
    let got: Value = serde_json::from_str(&stdout).expect("the output is JSON");
    assert_eq!(got, expected("sample", ClockModel::Original));

    let (code, _, stderr) = network.customers(&["reset", "--cluster", cluster]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = network.customers(&[
        "run",
        &input,
        "--cluster",
        cluster,
        "--concurrent",
        "--trace",
        "/work/trace.jsonl",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (status, said) = check(&network.dir().join("trace.jsonl"));
    assert_eq!(status, Some(0), "{said}");
}

/// A workload long enough to be cut in the middle: three customers of 300 operations each,
/// deposits of varied amounts and withdrawals of 3, so that the final balance depends on
/// every change reaching every replica. Returns the input file's path in the containers.
fn long_workload(network: &Network) -> String {
    let mut processes = Vec::new();
    let mut event = 0;
    for customer in 1..=3 {
        let events: Vec<Value> = (0..300)
            .map(|k| {
                event += 1;
                match k % 3 {
                    0 => serde_json::json!({"id": event, "interface": "deposit", "money": customer * (k % 7 + 1)}),
                    1 => serde_json::json!({"id": event, "interface": "withdraw", "money": 3}),
                    _ => serde_json::json!({"id": event, "interface": "query"}),
                }
            })
            .collect();
        processes.push(serde_json::json!({"id": customer, "type": "customer", "events": events}));
    }
    for branch in 1..=3 {
        processes.push(serde_json::json!({"id": branch, "type": "branch", "balance": 400}));
    }
    std::fs::write(
        network.dir().join("long.json"),
        serde_json::to_string(&processes).expect("JSON"),
    )
    .expect("written");
    "/work/long.json".to_string()
}

/// The balance every replica must end with, from the input and the customers' results: the
/// initial balance, plus every deposit, less every withdrawal that succeeded.
fn balance_after(input: &Path, results: &Value) -> i64 {
    let processes = read_json(input);
    let mut money = std::collections::BTreeMap::new();
    for process in processes.as_array().expect("an array") {
        for event in process["events"].as_array().into_iter().flatten() {
            money.insert(
                event["id"].as_i64().expect("an id"),
                event["money"].as_i64(),
            );
        }
    }
    let mut balance = 400;
    for customer in results["customers"].as_array().expect("customers") {
        for result in customer["results"].as_array().expect("results") {
            let amount = money[&result["event"].as_i64().expect("an event")].unwrap_or(0);
            match (result["interface"].as_str(), result["result"].as_str()) {
                (Some("deposit"), Some("success")) => balance += amount,
                (Some("withdraw"), Some("success")) => balance -= amount,
                (Some("deposit" | "withdraw"), other) => panic!("a change ended {other:?}"),
                _ => {}
            }
        }
    }
    balance
}

/// One branch taken off the network for a few seconds in the middle of a concurrent run, then
/// put back at the same address: the run waits for it, completes, its trace passes `check`,
/// and every replica ends with the same balance, the one the changes add up to.
#[test]
fn a_branch_cut_off_the_network_delays_a_run_but_does_not_break_it() {
    if !need_docker() {
        return;
    }
    let mut network = Network::new("partition", 3, 400);
    let branches = network.start_branches(&[]);
    let customers = start_long_run(&mut network);
    // The run has begun once B3 has been told it.
    wait_until(READY, "B3 to be told the run", || {
        logs(&branches[2]).contains("a run begins").then_some(())
    });
    docker_ok(&["network", "disconnect", &network.name, &branches[2]]);
    // The outage itself: B3 stays off the network this long, whatever the others do.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        state(&customers),
        "running",
        "the run ended while B3 was off the network: {}",
        logs(&customers)
    );
    let ip = network.branch_ip(3);
    docker_ok(&[
        "network",
        "connect",
        "--ip",
        &ip,
        &network.name,
        &branches[2],
    ]);
    let (code, _, stderr) = wait_exited(&customers, RUN);
    assert_eq!(code, 0, "{stderr}");
    assert_nothing_lost(&network);
}

/// The long workload's run ([`start_long_run`]) ended whole: its trace passes `check`, its
/// invariants hold, and every replica ends with the balance its accepted changes add up to
/// (a change applied twice, or lost, would show there).
fn assert_nothing_lost(network: &Network) {
    let (status, said) = check(&network.dir().join("trace.jsonl"));
    assert_eq!(status, Some(0), "{said}");
    let results = read_json(&network.dir().join("results.json"));
    assert_eq!(
        results["invariants"]["hold"],
        Value::Bool(true),
        "{results:#}"
    );
    let wanted = balance_after(&network.dir().join("long.json"), &results);
    assert_ne!(wanted, 400, "the workload changes the balance");
    let finals: Vec<(i64, i64)> = results["branches"]
        .as_array()
        .expect("branches")
        .iter()
        .map(|branch| {
            (
                branch["id"].as_i64().expect("an id"),
                branch["final"].as_i64().expect("a final balance"),
            )
        })
        .collect();
    assert_eq!(finals, [(1, wanted), (2, wanted), (3, wanted)]);
}

/// Starts the long workload's customers, concurrent, writing the output, results and trace
/// into the network's folder; returns their container's name.
fn start_long_run(network: &mut Network) -> String {
    let input = long_workload(network);
    network.start_customers(&[
        "run",
        &input,
        "--cluster",
        "/work/cluster.toml",
        "--concurrent",
        "--output",
        "/work/output.json",
        "--results",
        "/work/results.json",
        "--trace",
        "/work/trace.jsonl",
    ])
}

/// The size of a file in a Docker volume, read on the host where Docker keeps it (this needs
/// the rights to read Docker's folder, as the tests' root user has).
fn size_in_volume(volume: &str, file: &str) -> u64 {
    let mountpoint = docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", volume]);
    std::fs::metadata(Path::new(&mountpoint).join(file)).map_or(0, |meta| meta.len())
}

/// `docker kill` (SIGKILL) of a branch that keeps its state in a volume (`--data /data`), in the
/// middle of a concurrent run, then `docker start`: the branch comes back from what it had
/// committed, its peers re-send what it had not acknowledged, its customer asks again, and
/// the run completes with nothing lost and nothing applied twice.
#[test]
fn a_branch_killed_in_its_container_comes_back_from_its_volume() {
    if !need_docker() {
        return;
    }
    let mut network = Network::new("kill", 3, 400);
    let volumes: Vec<String> = (1..=3)
        .map(|id| format!("{}-data-{id}", network.name))
        .collect();
    let branches: Vec<String> = (1..=3)
        .map(|id| {
            network.start_branch(
                id,
                BranchOptions {
                    volume: Some(&volumes[id as usize - 1]),
                    args: &["--data", "/data"],
                },
            )
        })
        .collect();
    let customers = start_long_run(&mut network);
    // Killed once it has committed a good part of the run: its write-ahead log has grown.
    wait_until(RUN, "B2 to commit part of the run", || {
        (size_in_volume(&volumes[1], "branch.sqlite-wal") > 64 * 1024).then_some(())
    });
    docker_ok(&["kill", &branches[1]]);
    wait_until(READY, "B2 to be killed", || {
        (state(&branches[1]) == "exited").then_some(())
    });
    assert_eq!(
        state(&customers),
        "running",
        "the run ended before B2 was killed: {}",
        logs(&customers)
    );
    docker_ok(&["start", &branches[1]]);
    // Its log holds both lives: the second "listening" is the restarted branch's.
    wait_until(READY, "B2 to listen again", || {
        (logs(&branches[1]).matches("\"listening\"").count() >= 2).then_some(())
    });
    let restored = logs(&branches[1]);
    let steps: u64 = regex::Regex::new(r#""steps":(\d+)"#)
        .expect("a pattern")
        .captures_iter(&restored)
        .filter_map(|found| found[1].parse().ok())
        .max()
        .unwrap_or(0);
    assert!(steps > 0, "B2 restored nothing: {restored}");
    let (code, _, stderr) = wait_exited(&customers, RUN);
    assert_eq!(code, 0, "{stderr}");
    assert_nothing_lost(&network);
}

/// `docker stop` (SIGTERM) of every branch after a run: each drains and exits 0, saying so.
#[test]
fn docker_stop_drains_every_branch() {
    if !need_docker() {
        return;
    }
    let mut network = Network::new("stop", 3, 400);
    let branches = network.start_branches(&[]);
    let input = example_input(&network, "sample");
    let (code, _, stderr) = network.customers(&[
        "run",
        &input,
        "--cluster",
        "/work/cluster.toml",
        "--concurrent",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let mut args = vec!["stop", "-t", "20"];
    args.extend(branches.iter().map(String::as_str));
    docker_ok(&args);
    for branch in &branches {
        let (code, _, said) = wait_exited(branch, READY);
        assert_eq!(code, 0, "{branch}: {said}");
        assert!(said.contains("\"stopped\""), "{branch}: {said}");
    }
}

/// Which compose tool works here: `docker compose`, else `docker-compose`.
fn compose_tool() -> Option<Vec<&'static str>> {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|output| output.status.success())
    };
    if works("docker", &["compose", "version"]) {
        Some(vec!["docker", "compose"])
    } else if works("docker-compose", &["version"]) {
        Some(vec!["docker-compose"])
    } else {
        None
    }
}

/// A compose project, taken down (containers, network) when dropped.
struct Compose {
    tool: Vec<&'static str>,
    project: String,
}

impl Compose {
    fn command(&self, args: &[&str]) -> Command {
        let file = repo().join("deploy/compose.yaml");
        let mut command = Command::new(self.tool[0]);
        command
            .args(&self.tool[1..])
            .args(["-p", &self.project, "-f"])
            .arg(file)
            .args(args)
            .stdin(Stdio::null());
        command
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self
            .command(&["down", "--volumes", "--remove-orphans", "--timeout", "20"])
            .output();
    }
}

/// Waits (bounded) for a child process; kills it if it takes longer.
fn wait_child(mut child: Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("waitable").is_some() {
            return child.wait_with_output().expect("its output");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("its output");
            panic!(
                "{what} took over {limit:?}: {}{}",
                text(&output.stdout),
                text(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `deploy/compose.yaml` with the locally built image: the customers wait for the branches'
/// health checks, then print exactly the sample's expected output.
#[test]
fn the_compose_file_runs_the_sample() {
    if !need_docker() {
        return;
    }
    let Some(tool) = compose_tool() else {
        assert!(
            !common::in_ci(),
            "CI=true, yet no docker compose tool works"
        );
        eprintln!("skipped: neither `docker compose` nor `docker-compose` works here");
        return;
    };
    image();
    let compose = Compose {
        tool,
        project: format!("lamportbanktest{}", std::process::id()),
    };
    let up = compose
        .command(&[
            "up",
            "--no-build",
            "--abort-on-container-exit",
            "--exit-code-from",
            "customers",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("compose runs");
    let up = wait_child(up, Duration::from_secs(50), "compose up");
    let said = format!("{}{}", text(&up.stdout), text(&up.stderr));
    assert!(up.status.success(), "{said}");
    let ids = compose
        .command(&["ps", "-q", "customers"])
        .output()
        .expect("compose runs");
    let id = text(&ids.stdout).trim().to_string();
    assert!(!id.is_empty(), "no customers container: {said}");
    let output = docker(&["logs", &id]);
    let got: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", text(&output.stdout)));
    assert_eq!(got, expected("sample", ClockModel::Original));
}

/// Every YAML document of `path`.
fn yaml_documents(path: &Path) -> Vec<Value> {
    use serde::Deserialize;
    let read = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{path:?}: {error}"));
    serde_norway::Deserializer::from_str(&read)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|error| panic!("{path:?}: {error}"))
        })
        .collect()
}

fn cluster_file(path: &Path) -> (String, ClusterFile) {
    let read = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{path:?}: {error}"));
    let parsed = ClusterFile::parse(&read).unwrap_or_else(|error| panic!("{path:?}: {error}"));
    (read, parsed)
}

/// The compose file's cluster file is a valid one whose addresses are the branch services'
/// fixed addresses on its network, which holds them.
#[test]
fn the_compose_file_and_its_cluster_file_agree() {
    let (_, cluster) = cluster_file(&repo().join("deploy/cluster.toml"));
    assert_eq!(cluster.balance, 400);
    assert_eq!(cluster.branches.len(), 3);
    let compose = yaml_documents(&repo().join("deploy/compose.yaml"));
    let [compose] = compose.as_slice() else {
        panic!("one document");
    };
    let subnet = compose["networks"]["bank"]["ipam"]["config"][0]["subnet"]
        .as_str()
        .expect("a subnet");
    let prefix = subnet.strip_suffix(".0/24").expect("a /24");
    for (id, address) in &cluster.branches {
        let service = &compose["services"][format!("branch{}", id.0)];
        assert_eq!(service["image"], "lamport-bank:latest");
        assert_eq!(service["build"]["dockerfile"], "Dockerfile");
        let ip = service["networks"]["bank"]["ipv4_address"]
            .as_str()
            .expect("a fixed address");
        assert_eq!(address.to_string(), format!("{ip}:50051"));
        assert!(ip.starts_with(&format!("{prefix}.")), "{ip} in {subnet}");
        let command: Vec<&str> = service["command"]
            .as_array()
            .expect("a command")
            .iter()
            .map(|part| part.as_str().expect("a word"))
            .collect();
        let id = id.0.to_string();
        assert_eq!(
            command,
            [
                "serve",
                "--cluster",
                "/etc/lamport-bank/cluster.toml",
                "--id",
                &id,
                "--listen",
                "0.0.0.0:50051",
                "--log-format",
                "json"
            ]
        );
        assert_eq!(service["healthcheck"]["test"][1], BINARY_IN_IMAGE);
    }
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).expect("a Dockerfile");
    assert!(
        dockerfile.contains(&format!("ENTRYPOINT [\"{BINARY_IN_IMAGE}\"]")),
        "{dockerfile}"
    );
}

/// The Kubernetes manifests parse; the ConfigMap holds exactly `deploy/k8s/cluster.toml`,
/// a valid cluster file whose addresses are the per-branch Services' fixed cluster IPs, each
/// selecting the pod whose ordinal is the branch id less one; the StatefulSet's readiness is
/// its gRPC health.
#[test]
fn the_kubernetes_manifests_hold_the_cluster_file() {
    let path = repo().join("deploy/k8s/lamport-bank.yaml");
    let documents = yaml_documents(&path);
    let of_kind = |kind: &str| -> Vec<&Value> {
        documents
            .iter()
            .filter(|document| document["kind"] == kind)
            .collect()
    };
    let (file, cluster) = cluster_file(&repo().join("deploy/k8s/cluster.toml"));
    let [config_map] = of_kind("ConfigMap")[..] else {
        panic!("one ConfigMap");
    };
    assert_eq!(
        config_map["data"]["cluster.toml"].as_str(),
        Some(file.as_str())
    );
    assert_eq!(cluster.balance, 400);
    assert_eq!(cluster.branches.len(), 3);

    let services = of_kind("Service");
    assert!(
        services
            .iter()
            .any(|service| service["spec"]["clusterIP"] == "None"),
        "a headless Service"
    );
    for (id, address) in &cluster.branches {
        let BranchId(number) = *id;
        let service = services
            .iter()
            .find(|service| service["metadata"]["name"] == format!("lamport-bank-{number}"))
            .unwrap_or_else(|| panic!("a Service for {id}"));
        assert_eq!(
            service["spec"]["clusterIP"].as_str(),
            Some(address.ip().to_string().as_str())
        );
        assert_eq!(service["spec"]["ports"][0]["port"], address.port());
        assert_eq!(
            service["spec"]["selector"]["statefulset.kubernetes.io/pod-name"],
            format!("lamport-bank-{}", number - 1)
        );
    }

    let [statefulset] = of_kind("StatefulSet")[..] else {
        panic!("one StatefulSet");
    };
    assert_eq!(statefulset["spec"]["replicas"], cluster.branches.len());
    assert_eq!(statefulset["spec"]["serviceName"], "lamport-bank");
    let container = &statefulset["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["grpc"]["port"], 50051);
    let script = container["args"][0].as_str().expect("a script");
    assert!(
        script.contains("--id \"$(( ${POD_NAME##*-} + 1 ))\""),
        "{script}"
    );
}

/// `health` (the compose file's health check, whose SERVING case the compose test relies on)
/// fails with status 4 and one line when nothing answers.
#[test]
fn health_fails_when_no_branch_answers() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = free.local_addr().expect("bound");
    drop(free);
    let output = Command::new(env!("CARGO_BIN_EXE_lamport-bank"))
        .args(["health", &address.to_string(), "--timeout", "1"])
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(4));
    let said = text(&output.stderr);
    assert!(said.starts_with(&format!("{address}: ")), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");
}

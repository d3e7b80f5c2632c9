//! A cluster of `serve` processes on loopback, started by the benchmark and stopped by it: one
//! child per branch, each the `lamport-bank` binary run as `serve --cluster FILE --id N` on a
//! free port, in memory or with `--data` (a folder of its own), all in one temporary folder
//! that holds the cluster file and is removed at the end.
//!
//! Every child is stopped by [`Processes::stop`]: SIGTERM to each (a branch drains and stops),
//! a bounded wait, then SIGKILL for any still running. The benchmark calls it on every path,
//! after an error and after Ctrl-C too. Two further nets: the children stay in the
//! benchmark's process group, so a Ctrl-C at the terminal reaches them as well (they drain
//! and stop by themselves even if a second Ctrl-C ends the benchmark at once), and a child
//! still running when its handle is dropped (a panic) is killed.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::model::{BranchId, ClockModel};
use crate::remote::ClusterFile;

/// How long a child may take to say it listens.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(30);
/// How long a child may take to stop after SIGTERM before it is killed: more than a branch's
/// drain and grace periods ([`crate::Timeouts::REAL`]), which bound its own stopping.
pub const STOP_DEADLINE: Duration = Duration::from_secs(20);
/// What the children log: their own lines at info (the `listening` line the benchmark waits
/// for), their dependencies' at warn.
const CHILD_LOG_FILTER: &str = "warn,lamport_bank=info";
/// What a child says once it listens.
const LISTENING: &str = "listening";

/// Where a cluster of processes keeps its branches' state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// In memory: lost when the process ends.
    Memory,
    /// `serve --data`: every step committed to SQLite (and fsynced) before what depends on it
    /// leaves the branch.
    Data,
}

/// Why a cluster of processes could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The temporary folder, its cluster file or a data folder could not be made, or a free
    /// port found.
    #[error("the temporary cluster: {0}")]
    Setup(std::io::Error),
    /// A child could not be started.
    #[error("{branch}: `{binary} serve` could not be started: {source}")]
    Spawn {
        /// Its branch.
        branch: BranchId,
        /// The binary.
        binary: String,
        /// Why.
        source: std::io::Error,
    },
    /// A child ended, or said nothing, before it listened.
    #[error("{branch}: `serve` did not start: {said}")]
    NotListening {
        /// Its branch.
        branch: BranchId,
        /// What it said last, or that it said nothing in time.
        said: String,
    },
    /// A child could not be waited for, or ended with a failure.
    #[error("{branch}: `serve` {problem}")]
    Stop {
        /// Its branch.
        branch: BranchId,
        /// What went wrong.
        problem: String,
    },
    /// The temporary folder could not be removed.
    #[error("the temporary cluster {}: {source}", .path.display())]
    Cleanup {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// One running child.
#[derive(Debug)]
struct Running {
    branch: BranchId,
    child: Child,
}

/// A cluster of `serve` processes: its temporary folder and cluster file, and its children
/// once [`Processes::start`] has started them.
#[derive(Debug)]
pub struct Processes {
    binary: PathBuf,
    storage: Storage,
    model: ClockModel,
    cluster: ClusterFile,
    file: PathBuf,
    dir: tempfile::TempDir,
    children: Vec<Running>,
    /// One task per child, reading what it writes on stderr until it ends.
    readers: JoinSet<()>,
}

impl Processes {
    /// Writes the cluster file of `branches` (each on a free loopback port, each starting with
    /// `balance`) in a new temporary folder. Starts nothing yet.
    pub fn new(
        binary: &Path,
        branches: &[BranchId],
        balance: i64,
        model: ClockModel,
        storage: Storage,
    ) -> Result<Self, ProcessError> {
        let dir = tempfile::Builder::new()
            .prefix("lamport-bank-bench-")
            .tempdir()
            .map_err(ProcessError::Setup)?;
        // Every listener is held until all ports are found, so that no two branches get the
        // same port; the children bind them a moment later.
        let listeners = branches
            .iter()
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ProcessError::Setup)?;
        let mut addresses = BTreeMap::new();
        for (&branch, listener) in branches.iter().zip(&listeners) {
            addresses.insert(branch, listener.local_addr().map_err(ProcessError::Setup)?);
        }
        drop(listeners);
        let cluster = ClusterFile {
            clocks: Some(model),
            branches: addresses,
            balance,
        };
        let file = dir.path().join("cluster.toml");
        std::fs::write(&file, cluster_text(&cluster)).map_err(ProcessError::Setup)?;
        Ok(Self {
            binary: binary.to_path_buf(),
            storage,
            model,
            cluster,
            file,
            dir,
            children: Vec::new(),
            readers: JoinSet::new(),
        })
    }

    /// The cluster the children serve.
    pub fn cluster(&self) -> &ClusterFile {
        &self.cluster
    }

    /// The temporary folder (the cluster file, the data folders), removed by
    /// [`Processes::stop`].
    pub fn folder(&self) -> &Path {
        self.dir.path()
    }

    /// Starts one child per branch, in ascending id, each once the one before listens, and
    /// returns once the last listens. A child that fails to start or says nothing within
    /// [`STARTUP_DEADLINE`] is an error (the children started so far keep running until
    /// [`Processes::stop`]).
    pub async fn start(&mut self) -> Result<(), ProcessError> {
        let branches: Vec<BranchId> = self.cluster.branches.keys().copied().collect();
        for branch in branches {
            let mut command = Command::new(&self.binary);
            command
                .arg("serve")
                .arg("--cluster")
                .arg(&self.file)
                .args(["--id", &branch.0.to_string()])
                .args(["--clocks", self.model.name()])
                .env("RUST_LOG", CHILD_LOG_FILTER)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                // The last net: a child whose handle is dropped (a panic) is not left running.
                .kill_on_drop(true);
            if self.storage == Storage::Data {
                let data = self.dir.path().join(format!("data-{}", branch.0));
                std::fs::create_dir(&data).map_err(ProcessError::Setup)?;
                command.arg("--data").arg(data);
            }
            let mut child = command.spawn().map_err(|source| ProcessError::Spawn {
                branch,
                binary: self.binary.display().to_string(),
                source,
            })?;
            tracing::debug!(
                %branch,
                pid = child.id(),
                cluster = %self.file.display(),
                "serve started"
            );
            let stderr = child.stderr.take();
            self.children.push(Running { branch, child });
            let (listening, heard) = oneshot::channel();
            if let Some(stderr) = stderr {
                self.readers.spawn(read_log(branch, stderr, listening));
            }
            let said = match tokio::time::timeout(STARTUP_DEADLINE, heard).await {
                Ok(Ok(Ok(()))) => continue,
                Ok(Ok(Err(said))) => said,
                // No reader (no stderr), or it ended without a word.
                Ok(Err(_)) => "it ended without saying why".to_string(),
                Err(_) => format!(
                    "it did not say it listens within {} s",
                    STARTUP_DEADLINE.as_secs()
                ),
            };
            return Err(ProcessError::NotListening { branch, said });
        }
        Ok(())
    }

    /// Each running child's process id, by branch.
    pub fn pids(&self) -> BTreeMap<BranchId, u32> {
        self.children
            .iter()
            .filter_map(|running| Some((running.branch, running.child.id()?)))
            .collect()
    }

    /// The CPU time (user and system) every child has used so far, all together; `None` if
    /// one does not say.
    pub fn cpu(&self) -> Option<Duration> {
        let mut total = Duration::ZERO;
        for pid in self.pids().into_values() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            total += super::cpu::cpu_time(&stat)?;
        }
        Some(total)
    }

    /// The peak resident size of every child so far (`VmHWM`), summed, in KiB; `None` if one
    /// does not say.
    pub fn peak_kib(&self) -> Option<u64> {
        let mut total = 0;
        for pid in self.pids().into_values() {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            total += super::memory::vm_hwm_kib(&status)?;
        }
        Some(total)
    }

    /// Stops every child (SIGTERM, up to [`STOP_DEADLINE`] to stop, then SIGKILL), waits for
    /// each and for what it wrote, and removes the temporary folder. Every child is stopped
    /// even if one fails; the first failure is returned: a child that could not be waited for,
    /// that ended with a failure status, or that had to be killed.
    pub async fn stop(mut self) -> Result<(), ProcessError> {
        for running in &mut self.children {
            terminate(&mut running.child);
        }
        let mut first_failure = None;
        for mut running in std::mem::take(&mut self.children) {
            let stopped = stop_one(&mut running.child).await;
            tracing::debug!(branch = %running.branch, ?stopped, "serve stopped");
            if let Err(problem) = stopped
                && first_failure.is_none()
            {
                first_failure = Some(ProcessError::Stop {
                    branch: running.branch,
                    problem,
                });
            }
        }
        // Every child has ended, so each reader sees the end of its stderr.
        while self.readers.join_next().await.is_some() {}
        let path = self.dir.path().to_path_buf();
        let removed = self
            .dir
            .close()
            .map_err(|source| ProcessError::Cleanup { path, source });
        match first_failure {
            Some(failure) => Err(failure),
            None => removed,
        }
    }
}

/// Sends SIGTERM to `child` if it has not ended. A child not yet waited for keeps its process
/// id (as a zombie, once it ends), so the signal cannot reach another process.
fn terminate(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        // It may have ended since: then there is nothing to stop.
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}

/// Waits for `child`, signalled already, to end; kills it if it has not within
/// [`STOP_DEADLINE`]. Ok if it ended by itself with success.
async fn stop_one(child: &mut Child) -> Result<(), String> {
    match tokio::time::timeout(STOP_DEADLINE, child.wait()).await {
        Ok(Ok(status)) => exited(status),
        Ok(Err(error)) => Err(format!("could not be waited for: {error}")),
        Err(_) => {
            let killed = child.kill().await;
            Err(match killed {
                Ok(()) => format!(
                    "did not stop within {} s of SIGTERM: killed",
                    STOP_DEADLINE.as_secs()
                ),
                Err(error) => format!("did not stop, and could not be killed: {error}"),
            })
        }
    }
}

fn exited(status: ExitStatus) -> Result<(), String> {
    if status.success() {
        Ok(())
    } else {
        Err(format!("ended with {status}"))
    }
}

/// Reads what branch `branch`'s child writes on stderr until it ends: tells `listening` once it
/// says it listens (or, if it ends first, its last line), and passes every line on as a trace
/// event.
async fn read_log(
    branch: BranchId,
    stderr: ChildStderr,
    listening: oneshot::Sender<Result<(), String>>,
) {
    let mut lines = BufReader::new(stderr).lines();
    let mut listening = Some(listening);
    let mut last = String::new();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                tracing::trace!(%branch, "{line}");
                if line.contains(LISTENING) {
                    if let Some(listening) = listening.take() {
                        // The benchmark may have stopped waiting: nothing to tell then.
                        let _ = listening.send(Ok(()));
                    }
                } else if !line.trim().is_empty() {
                    last = line;
                }
            }
            Ok(None) => break,
            Err(error) => {
                last = format!("its log could not be read: {error}");
                break;
            }
        }
    }
    if let Some(listening) = listening {
        if last.is_empty() {
            last = "it ended without saying why".to_string();
        }
        let _ = listening.send(Err(last));
    }
}

/// The cluster file's text for `cluster`.
fn cluster_text(cluster: &ClusterFile) -> String {
    let mut text = String::new();
    if let Some(model) = cluster.clocks {
        text.push_str(&format!("clocks = \"{}\"\n", model.name()));
    }
    for (branch, address) in &cluster.branches {
        text.push_str(&format!(
            "\n[[branch]]\nid = {}\naddress = \"{}\"\nbalance = {}\n",
            branch.0, address, cluster.balance
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_file_reads_back_as_written() {
        let cluster = ClusterFile {
            clocks: Some(ClockModel::Strict),
            branches: [
                (BranchId(1), "127.0.0.1:50051".parse().unwrap()),
                (BranchId(3), "127.0.0.1:50053".parse().unwrap()),
            ]
            .into_iter()
            .collect(),
            balance: 100_000,
        };
        assert_eq!(ClusterFile::parse(&cluster_text(&cluster)), Ok(cluster));
    }

    #[test]
    fn a_missing_binary_is_an_error_and_the_folder_is_removed() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut processes = Processes::new(
                Path::new("/nonexistent/lamport-bank"),
                &[BranchId(1), BranchId(2)],
                10,
                ClockModel::Original,
                Storage::Data,
            )
            .unwrap();
            let folder = processes.folder().to_path_buf();
            assert!(folder.join("cluster.toml").exists());
            let started = processes.start().await;
            assert!(
                matches!(
                    started,
                    Err(ProcessError::Spawn {
                        branch: BranchId(1),
                        ..
                    })
                ),
                "{started:?}"
            );
            processes.stop().await.unwrap();
            assert!(!folder.exists());
        });
    }
}

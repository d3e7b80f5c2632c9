//! The cluster file: which branches make up a cluster of `serve` processes, where each one is
//! reached, and the balance they all start with. Every process of the cluster reads the same
//! file. TOML:
//!
//! ```toml
//! clocks = "original"          # optional: original, strict or messages
//! [[branch]]
//! id = 1
//! address = "127.0.0.1:50051"
//! balance = 400
//! ```
//!
//! A file that is inconsistent (an unknown key, a duplicate id, an address that does not parse,
//! balances that differ, no branch) is refused with one line naming the place.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

use crate::model::{BranchId, ClockModel};
use crate::scenario::{BranchSpec, Scenario};

/// A validated cluster file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterFile {
    /// The clock model the file names, if it names one.
    pub clocks: Option<ClockModel>,
    /// Where each branch is reached, by id.
    pub branches: BTreeMap<BranchId, SocketAddr>,
    /// The balance every branch starts with.
    pub balance: i64,
}

/// A refused cluster file, as one line: `<file>: <place>: <problem>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {problem}")]
pub struct ClusterFileError {
    /// The file, as named.
    pub source_name: String,
    /// What is wrong, and where.
    pub problem: ClusterProblem,
}

/// What is wrong with a cluster file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterProblem {
    /// It could not be read.
    #[error("{0}")]
    Unreadable(String),
    /// It is not TOML of the right shape (toml's message, with its line and column).
    #[error("{0}")]
    Malformed(String),
    /// `clocks` names no model.
    #[error("clocks must be original, strict or messages, got {0:?}")]
    UnknownClocks(String),
    /// No `[[branch]]` table.
    #[error("no [[branch]] entries")]
    NoBranches,
    /// An id of 0.
    #[error("branch at index {0}: id must be a positive whole number")]
    ZeroId(usize),
    /// Two entries with one id.
    #[error("branch {0}: duplicate id")]
    DuplicateId(BranchId),
    /// An address that is not `host:port` with an IP host.
    #[error("branch {branch}: address {address:?} does not parse (expected like 127.0.0.1:50051)")]
    BadAddress {
        /// The branch.
        branch: BranchId,
        /// The address as written.
        address: String,
    },
    /// A balance below zero.
    #[error("branch {0}: balance must be at least 0")]
    NegativeBalance(BranchId),
    /// Balances that differ.
    #[error("branch {branch}: balance {balance} differs from {first}'s {first_balance}")]
    DifferingBalances {
        /// The branch whose balance differs.
        branch: BranchId,
        /// Its balance.
        balance: i64,
        /// The first branch.
        first: BranchId,
        /// The first branch's balance.
        first_balance: i64,
    },
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    clocks: Option<String>,
    #[serde(default)]
    branch: Vec<RawBranch>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBranch {
    id: u32,
    address: String,
    balance: i64,
}

impl ClusterFile {
    /// Reads and validates the cluster file at `path` (`-`: standard input).
    pub fn load(path: &str) -> Result<Self, ClusterFileError> {
        let source_name = crate::source::name_of(path).to_string();
        let text = crate::source::read_to_string(path, crate::source::MAX_INPUT_BYTES);
        let text = text.map_err(|error| ClusterFileError {
            source_name: source_name.clone(),
            problem: ClusterProblem::Unreadable(error.to_string()),
        })?;
        Self::parse(&text).map_err(|problem| ClusterFileError {
            source_name,
            problem,
        })
    }

    /// Parses and validates a cluster file's text.
    pub fn parse(text: &str) -> Result<Self, ClusterProblem> {
        let raw: Raw = toml::from_str(text)
            .map_err(|error| ClusterProblem::Malformed(one_line(&error.to_string())))?;
        let clocks = match raw.clocks.as_deref() {
            None => None,
            Some(name) => Some(
                ClockModel::parse(name)
                    .ok_or_else(|| ClusterProblem::UnknownClocks(name.to_string()))?,
            ),
        };
        let Some(first) = raw.branch.first() else {
            return Err(ClusterProblem::NoBranches);
        };
        let (first_id, first_balance) = (BranchId(first.id), first.balance);
        let mut branches = BTreeMap::new();
        for (index, entry) in raw.branch.iter().enumerate() {
            if entry.id == 0 {
                return Err(ClusterProblem::ZeroId(index));
            }
            let branch = BranchId(entry.id);
            let address: SocketAddr =
                entry
                    .address
                    .parse()
                    .map_err(|_| ClusterProblem::BadAddress {
                        branch,
                        address: entry.address.clone(),
                    })?;
            if entry.balance < 0 {
                return Err(ClusterProblem::NegativeBalance(branch));
            }
            if entry.balance != first_balance {
                return Err(ClusterProblem::DifferingBalances {
                    branch,
                    balance: entry.balance,
                    first: first_id,
                    first_balance,
                });
            }
            if branches.insert(branch, address).is_some() {
                return Err(ClusterProblem::DuplicateId(branch));
            }
        }
        Ok(Self {
            clocks,
            branches,
            balance: first_balance,
        })
    }

    /// The branches as a scenario lists them.
    pub fn branch_specs(&self) -> Vec<BranchSpec> {
        self.branches
            .keys()
            .map(|&id| BranchSpec {
                id,
                balance: self.balance,
            })
            .collect()
    }

    /// Refuses a scenario whose branches are not this cluster's (the same ids and balance).
    pub fn matches(&self, scenario: &Scenario) -> Result<(), Mismatch> {
        let ids: Vec<BranchId> = scenario.branches.iter().map(|branch| branch.id).collect();
        let ours: Vec<BranchId> = self.branches.keys().copied().collect();
        if ids != ours {
            return Err(Mismatch::Branches {
                input: ids,
                cluster: ours,
            });
        }
        if scenario.initial_balance() != self.balance {
            return Err(Mismatch::Balance {
                input: scenario.initial_balance(),
                cluster: self.balance,
            });
        }
        Ok(())
    }
}

/// An input whose branches are not the cluster's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// Other branch ids.
    #[error("the input's branches ({}) are not the cluster's ({})", names(.input), names(.cluster))]
    Branches {
        /// The input's.
        input: Vec<BranchId>,
        /// The cluster's.
        cluster: Vec<BranchId>,
    },
    /// Another initial balance.
    #[error("the input's branches start with {input}, the cluster's with {cluster}")]
    Balance {
        /// The input's.
        input: i64,
        /// The cluster's.
        cluster: i64,
    },
}

fn names(ids: &[BranchId]) -> String {
    let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
    names.join(", ")
}

/// toml's message on one line: its lines joined, the source excerpt left out.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().filter(|line| !line.trim().is_empty());
    let head = lines.next().unwrap_or_default().trim().to_string();
    let reason = message
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty() && !line.trim_start().starts_with('|'))
        .map(str::trim)
        .unwrap_or_default();
    if reason.is_empty() || reason == head {
        head
    } else {
        format!("{head}: {reason}")
    }
}

//! lamport-bank: a distributed banking simulator that makes Lamport's logical clocks visible and
//! checkable. Branches are real gRPC servers that each hold a replica of one balance; customers
//! deposit, withdraw and query at their own branch; every update is propagated to every other
//! branch; every step is stamped with a Lamport clock.
//!
//! # Layout
//!
//! - [`bench`](mod@bench): the `bench` command: seeded workloads measured against the machine's
//!   gRPC limit.
//! - [`model`]: ids, operations, sub-event kinds and their output names, clock models, schedules.
//! - [`clock`]: the Lamport clock (tick, merge) and the vector clock.
//! - [`recorder`]: one process's clocks and history; stamps outgoing messages.
//! - [`history`]: the full causal history of a run (every event, clocks, message links).
//! - [`input`]: reads the input JSON and validates it into a [`input::Scenario`].
//! - [`branch`]: a branch's replica and clock ([`branch::state`]), its gRPC handlers
//!   ([`branch::service`]) and its clients to the other branches ([`branch::peers`]).
//! - [`customer`]: runs one customer's events against its branch.
//! - [`cluster`]: starts the branches, runs the customers, collects the trace, shuts down.
//! - [`net`]: timeouts, keepalive, real TCP listeners and channels.
//! - [`faults`]: the log of faults a run met, and the faults a branch can inject.
//! - [`simnet`]: the seam to turmoil's simulated network; [`simulate`]: seeded, replayable
//!   simulations with faults, and their checks.
//! - [`trace`]: the branch logs and customer records, and the output format.
//! - [`tracefile`]: the `--trace` file (the history as JSON Lines), written and read.
//! - [`check`]: the invariants over a trace.
//! - [`causality`]: happens-before counts and the clock condition over a history.
//! - [`audit`]: the `check` command: verifies an output or a trace file.
//! - [`report`]: what a run tells a person and the `--results` JSON.
//! - [`picture`]: pictures of a history: the space-time diagram (SVG), an interactive HTML
//!   page, and a ShiViz log.
//! - [`workload`]: seeded generated scenarios.
//! - [`wire`]: the generated gRPC code and its conversions; [`error`]: the error type.
//!
//! # The life of a deposit
//!
//! Customer `C2` sends `deposit(170)` to branch `B2`, stamped with its clock. `B2` merges the
//! stamp (`deposit_request`), ticks and applies the change (`deposit_execute`), then sends the
//! change to every other branch, stamped with its clock. Each peer merges that stamp
//! (`deposit_propagate_request`), ticks and applies it (`deposit_propagate_execute`) and
//! replies with its clock, which `B2` merges (`deposit_propagate_response`). Once every peer
//! has replied, `B2` ticks once more and answers the customer, who merges the reply's stamp.
//! Every replica then holds the same balance.

pub mod audit;
pub mod bench;
pub mod branch;
pub mod causality;
pub mod check;
pub mod clock;
pub mod cluster;
pub mod customer;
pub mod error;
pub mod faults;
pub mod history;
pub mod input;
pub mod model;
pub mod net;
pub mod picture;
pub mod recorder;
pub mod report;
pub mod simnet;
pub mod simulate;
pub mod trace;
pub mod tracefile;
pub mod wire;
pub mod workload;

pub use error::Error;

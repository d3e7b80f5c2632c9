//! lamport-bank: a distributed banking simulator that makes Lamport's logical clocks visible and
//! checkable. Branches are real gRPC servers that each hold a replica of one balance; customers
//! deposit, withdraw and query at their own branch; every update is propagated to every other
//! branch; every step is stamped with a Lamport clock.
//!
//! # Layout
//!
//! Pure code (no I/O, no async):
//!
//! - [`model`]: ids and process names (`B2`, `C3`), operations, sub-event kinds and their output
//!   names, clock models, schedules.
//! - [`clock`]: the Lamport clock (tick, merge) and the vector clock.
//! - [`rng`]: the seeded generator behind everything that must replay.
//! - [`source`]: text from outside (a file or standard input), read with bounds.
//! - [`json`]: JSON from outside read strictly (no key given twice), values cut in messages.
//! - [`scenario`]: what a run is given: the input file read and validated, the built-in sample,
//!   seeded workloads.
//! - [`session`]: a customer's session vector of its writes, and what a branch has applied of
//!   each customer's: read-your-writes and monotonic writes.
//! - [`trace`]: what a run records: each process's recorder, the history, the branch logs and
//!   the output format, the faults log, the `--trace` file.
//! - [`verify`]: the invariants, what clocks say about causality, and the `check` command's
//!   reading of any output or trace file; every broken rule a [`verify::Finding`].
//! - [`picture`]: the space-time diagram (SVG), the interactive HTML page, the ShiViz log.
//!
//! The system (gRPC over tokio and tonic):
//!
//! - [`wire`]: the generated gRPC code and every conversion to and from it.
//! - `net`: timeouts, keepalive, real TCP listeners and channels.
//! - [`tls`]: mutual TLS between the processes of a cluster, and who a certificate names.
//! - `branch`: a branch's replica and clock, its handlers, and its links to the other branches,
//!   served on any stream of connections by one function.
//! - `customer`: runs one customer's events against its branch.
//! - [`cluster`]: starts the branches on this machine, runs the customers, shuts down.
//! - [`report`]: what a run produced, assembled and checked the same way for a real run and a
//!   simulated one.
//! - [`sim`]: the same code over turmoil's simulated network, with seeded faults and sweeps.
//! - [`bench`](mod@bench): seeded workloads measured against the machine's gRPC limit, and
//!   their plot.
//! - [`app`]: the commands, as the binary calls them: what they read, write and print.
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

pub mod app;
pub mod bench;
mod branch;
pub mod clock;
pub mod cluster;
mod customer;
mod error;
pub mod json;
pub mod limits;
pub mod model;
mod net;
pub mod picture;
pub mod remote;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod session;
pub mod sim;
pub mod source;
pub mod tls;
pub mod trace;
pub mod verify;
pub mod wire;

pub use branch::inject::Bug;
pub use cluster::{Cluster, RunConfig};
pub use error::Error;
pub use net::Timeouts;
pub use report::Report;

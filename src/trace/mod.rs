//! What a run recorded, and the forms it is written in. Every event goes through a process's
//! [`recorder`] into the [`history`] (every event of every process, with its clocks and
//! messages); the branch logs and customer records of [`records`] (and the output of the README's
//! "Output" section) are derived from it, and so are the course years' outputs ([`course`], and
//! the three [`parts`] of 2023's, and the client-centric project's [`visits`]); the [`faults`] a run met are logged beside it; and
//! [`file`] writes and reads the whole as a `--trace` file.

pub mod course;
pub mod faults;
pub mod file;
pub mod history;
pub mod parts;
pub mod recorder;
pub mod records;
pub mod visits;

pub use course::{Course, Spelling};
pub use faults::{Fault, FaultLog, FaultRecord};
pub use history::{EventKind, History, ProcessTable, TraceEvent};
pub use recorder::{Recorder, Recording, Stamp};
pub use records::{BranchRecord, CustomerRecord, Outcome, Trace};

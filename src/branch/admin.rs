//! The admin calls of a branch served on its own (`lamport-bank serve`): a run tells the branch
//! which processes take part before its customers start (Begin), takes what the branch recorded
//! once they are done (Collect), and a branch started with `--allow-reset` can start over
//! (Reset). Each handler locks the state for one synchronous step, as the branch's own do.

use tonic::{Request, Response, Status};

use super::{SharedState, lock};
use crate::model::{BranchId, ClockModel, Process};
use crate::trace::{ProcessTable, Recording, file as trace_file};
use crate::wire::pb::{self, admin_server};

/// What a branch's admin calls may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminConfig {
    /// The clock model the branch was started with: a run of another is refused.
    pub model: ClockModel,
    /// Whether Reset is allowed.
    pub allow_reset: bool,
}

/// The admin service of one branch.
#[derive(Debug, Clone)]
pub struct AdminService {
    id: BranchId,
    state: SharedState,
    config: AdminConfig,
}

impl AdminService {
    /// The admin service of branch `id` over `state`.
    pub fn new(id: BranchId, state: SharedState, config: AdminConfig) -> Self {
        Self { id, state, config }
    }

    /// The tonic server wrapping this service.
    pub fn into_server(self) -> admin_server::AdminServer<Self> {
        admin_server::AdminServer::new(self)
            .max_decoding_message_size(crate::net::MAX_MESSAGE_BYTES)
    }
}

/// The most processes a run may name (a vector clock has one entry per process).
pub const MAX_PROCESSES: usize = 1 << 16;

/// The processes a Begin names, checked: parsed, in table order, each once, this branch among
/// them.
fn table_of(id: BranchId, names: &[String]) -> Result<ProcessTable, Status> {
    if names.len() > MAX_PROCESSES {
        return Err(Status::invalid_argument(format!(
            "{} processes: a run may have at most {MAX_PROCESSES}",
            names.len()
        )));
    }
    let mut processes = Vec::with_capacity(names.len());
    for name in names {
        let process: Process = name
            .parse()
            .map_err(|error: crate::model::BadProcessName| {
                Status::invalid_argument(error.to_string())
            })?;
        processes.push(process);
    }
    let table = ProcessTable::new(processes.iter().copied());
    if table.processes() != processes.as_slice() {
        return Err(Status::invalid_argument(
            "the processes must be listed once each, branches first, each kind in ascending id",
        ));
    }
    if table.index_of(Process::Branch(id)).is_none() {
        return Err(Status::invalid_argument(format!(
            "the run does not list {id}"
        )));
    }
    Ok(table)
}

#[tonic::async_trait]
impl admin_server::Admin for AdminService {
    async fn begin(
        &self,
        request: Request<pb::BeginRequest>,
    ) -> Result<Response<pb::BeginReply>, Status> {
        let request = request.into_inner();
        let Some(model) = ClockModel::parse(&request.clocks) else {
            return Err(Status::invalid_argument(format!(
                "clocks must be original, strict or messages, got {:?}",
                request.clocks
            )));
        };
        if model != self.config.model {
            return Err(Status::failed_precondition(format!(
                "{} runs the {} clock model, not {}",
                self.id,
                self.config.model.name(),
                model.name()
            )));
        }
        let table = table_of(self.id, &request.processes)?;
        lock(&self.state)
            .begin(&table, Recording::FULL)
            .map_err(|held| {
                Status::failed_precondition(format!(
                    "{} already holds another run's events ({held}); `lamport-bank reset \
                     --cluster FILE` clears them (on branches started with --allow-reset)",
                    self.id
                ))
            })?;
        tracing::info!(
            processes = table.len(),
            clocks = model.name(),
            "a run begins"
        );
        Ok(Response::new(pb::BeginReply {}))
    }

    async fn collect(
        &self,
        _request: Request<pb::CollectRequest>,
    ) -> Result<Response<pb::CollectReply>, Status> {
        let state = lock(&self.state);
        let names = state.table().names();
        let events = state
            .events()
            .iter()
            .map(|event| trace_file::event_line(event, &names))
            .collect();
        Ok(Response::new(pb::CollectReply {
            events,
            balance: state.balance(),
        }))
    }

    async fn reset(
        &self,
        _request: Request<pb::ResetRequest>,
    ) -> Result<Response<pb::ResetReply>, Status> {
        if !self.config.allow_reset {
            return Err(Status::permission_denied(format!(
                "{} was not started with --allow-reset",
                self.id
            )));
        }
        lock(&self.state).reset();
        tracing::info!("reset to the initial state");
        Ok(Response::new(pb::ResetReply {}))
    }
}

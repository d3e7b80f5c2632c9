//! Branches as their own processes, on their own hosts: the cluster file they all read
//! ([`config`]), one branch served as a long-lived process ([`serve`]), and a run of an input's
//! customers against such a cluster, which then collects every branch's log ([`run`]).

pub mod config;
pub mod run;
pub mod serve;

pub use config::ClusterFile;

//! A branch: its replica and clock ([`state`]), its gRPC handlers ([`service`]) and its
//! connections to the other branches ([`peers`]).

pub mod peers;
pub mod service;
pub mod state;

//! A branch: its replica and clock ([`state`]), its gRPC handlers ([`service`]), and the
//! other branches ([`peers`]), each reached over a [`link`].

pub mod link;
pub mod peers;
pub mod service;
pub mod state;

//! Everything only the server may run.

pub mod audit;
pub mod auth;
pub mod context;
pub mod impersonating;
pub mod impersonation;
pub mod jobs;
pub mod permissions;
pub mod principal;
pub mod seed;
pub mod state;
pub mod store;
pub mod webapp_backend;

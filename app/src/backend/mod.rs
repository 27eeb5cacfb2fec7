//! Everything only the server may run.

pub mod api_access;
pub mod api_clients;
pub mod audit;
pub mod auth;
pub mod context;
pub mod domain;
pub mod identity;
pub mod impersonating;
pub mod jobs;
pub mod memory;
pub mod principal;
pub mod rules;
pub mod secrets;
pub mod services;
pub mod seed;
pub mod state;
pub mod store;
pub mod shared_throttles;
pub mod throttle;
pub mod tokens;
pub mod webapp_access;
pub mod webapp_backend;
pub mod webapp_backends;
pub mod webapp_supervisor;

//! Server functions, one file per area. Each validates its input and takes identity only from
//! the session.

pub mod admin;
pub mod api_clients;
pub mod auth;
pub mod impersonation;
pub mod jobs;
pub mod projects;
pub mod shop;
pub mod webapp;

//! One function per use case, called by both the server functions and the `/v2` handlers.

pub mod datasets;
pub mod discussion;
pub mod jobs;
pub mod projects;
pub mod settings;
pub mod shop;
pub mod webapps;

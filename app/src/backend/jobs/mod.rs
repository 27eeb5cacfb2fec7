//! Dataset builds: a durable queue in the database, workers that claim jobs, and the recipes
//! that do the real work.

pub mod build;
pub mod queue;
pub mod recipes;
pub mod runner;

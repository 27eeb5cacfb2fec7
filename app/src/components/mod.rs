pub mod admin_nav;
pub mod banner;
pub mod errors;
pub mod header;
pub mod job_table;
pub mod live_jobs;
pub mod person;
pub mod picker;

//! Pure decisions: who may do what, and who may act as whom. No I/O: callers load the facts,
//! these functions decide, and every decision is unit-tested for allow and deny.

pub mod api_clients;
pub mod impersonation;
pub mod modes;
pub mod discussion;
pub mod permissions;
pub mod row_security;
pub mod shop;
pub mod webapps;

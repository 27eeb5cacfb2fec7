//! Server-wide settings, changed by the operator.

use crate::backend::audit::{AuditAction, AuditEntry, Outcome, OPERATOR};
use crate::backend::store::{self, Writer};

/// Turns impersonation on or off for every tenant, audited in the operator's chain. Ongoing
/// impersonations end on their next request when it is off.
pub async fn switch_impersonation(writer: &Writer, on: bool, via: &str) -> Result<(), sqlx::Error> {
    let entry = AuditEntry {
        tenant_id: OPERATOR,
        actor_user_id: OPERATOR,
        subject_user_id: None,
        impersonation_id: None,
        action: AuditAction::ImpersonationSwitch.as_str().into(),
        target: "every tenant".into(),
        outcome: Outcome::Allowed,
        reason: format!("impersonation turned {}", if on { "on" } else { "off" }),
        via: via.to_string(),
    };
    store::settings::set_impersonation_enabled(writer, on, entry).await
}

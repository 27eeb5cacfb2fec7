//! Who a request acts for: the subject, and the actor when impersonating. Built per request
//! by `identity` (from the session) or `api_access` (from a token), never from client input.

use super::audit::{AuditAction, AuditEntry, Outcome};
use super::store::users::UserRow;
use crate::model::{UserView, Via};

#[derive(Clone, Debug)]
pub struct Principal {
    /// The user the request acts as.
    pub subject: UserRow,
    /// The user really acting, when it is not the subject (impersonation).
    pub actor: Option<UserRow>,
    pub via: Via,
    pub read_only: bool,
    pub expires_at: Option<i64>,
    pub impersonation_id: Option<i64>,
}

impl Principal {
    /// A user acting as themselves through the UI.
    pub fn signed_in(user: UserRow) -> Self {
        Principal { subject: user, actor: None, via: Via::Ui, read_only: false, expires_at: None, impersonation_id: None }
    }

    pub fn tenant_id(&self) -> i64 {
        self.subject.tenant_id
    }

    pub fn subject_view(&self) -> UserView {
        self.subject.view()
    }

    /// The person really acting: the impersonator when there is one.
    pub fn acting_user(&self) -> &UserRow {
        self.actor.as_ref().unwrap_or(&self.subject)
    }

    /// The audit entry of work done while impersonating, naming both people; none for someone
    /// acting as themselves, whose work the job log and their own records already name.
    pub fn audit_if_impersonating(&self, action: AuditAction, target: String, outcome: Outcome, reason: String) -> Option<AuditEntry> {
        self.actor.as_ref().map(|_| self.audit(action, target, outcome, reason))
    }

    /// An audit entry for something this principal did, naming both people when impersonating.
    pub fn audit(&self, action: AuditAction, target: String, outcome: Outcome, reason: String) -> AuditEntry {
        AuditEntry {
            tenant_id: self.tenant_id(),
            actor_user_id: self.acting_user().id,
            subject_user_id: self.actor.as_ref().map(|_| self.subject.id),
            impersonation_id: self.impersonation_id,
            action: action.as_str().into(),
            target,
            outcome,
            reason,
            via: self.via.label(),
        }
    }
}

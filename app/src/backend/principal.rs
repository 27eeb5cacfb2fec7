//! Who a request acts for: the subject, and the actor when impersonating. Built per request
//! by `identity` (from the session) or `api_access` (from a token), never from client input.

use super::audit::{AuditAction, AuditEntry, Outcome};
use super::store::impersonations::ImpersonationRow;
use super::domain::User;
use super::rules::modes::{self, Side};
use super::rules::webapps::{Scopes, WebappToken};
use crate::model::{ImpersonationMode, UserView, Via};

/// Built only by the constructors below, so each way in sets every field the one right way.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The user the request acts as.
    subject: User,
    /// The user really acting, when it is not the subject (impersonation).
    actor: Option<User>,
    /// How the request came: the UI or an API client.
    via: Via,
    read_only: bool,
    expires_at: Option<i64>,
    impersonation_id: Option<i64>,
    /// How the actor acts for the subject, when impersonating.
    mode: Option<ImpersonationMode>,
    /// The code webapp whose backend made the request, with a token of its own or one for its
    /// browser user.
    webapp: Option<WebappRef>,
    /// The account a code webapp's backend runs as, when it acts for its browser user.
    backend: Option<User>,
}

/// A code webapp, as a request made with one of its tokens knows it.
#[derive(Clone, Debug)]
pub struct WebappRef {
    pub id: i64,
    pub name: String,
    /// Its project: the only one a token for its browser user reaches.
    pub project_id: i64,
    /// For a token acting as the browser user: the scopes it still has; none for the backend's
    /// own token.
    pub user_scopes: Option<Scopes>,
}

impl WebappRef {
    /// Whether a request with this token may reach `project_id`.
    pub fn reaches(&self, project_id: i64) -> bool {
        super::rules::webapps::token_reaches_project(self.token(), self.project_id, project_id)
    }

    pub fn token(&self) -> WebappToken<'_> {
        match &self.user_scopes {
            None => WebappToken::App,
            Some(scopes) => WebappToken::User(scopes),
        }
    }
}

impl Principal {
    /// A user acting as themselves through the UI.
    pub fn signed_in(user: User) -> Self {
        Principal {
            subject: user,
            actor: None,
            via: Via::Ui,
            read_only: false,
            expires_at: None,
            impersonation_id: None,
            mode: None,
            webapp: None,
            backend: None,
        }
    }

    /// `actor` acting as `subject` through the UI, in the impersonation `impersonation_id`.
    pub fn impersonating(actor: User, subject: User, impersonation: &ImpersonationRow) -> Self {
        Principal {
            subject,
            actor: Some(actor),
            via: Via::Ui,
            read_only: impersonation.read_only,
            expires_at: Some(impersonation.expires_at),
            impersonation_id: Some(impersonation.id),
            mode: Some(impersonation.mode),
            webapp: None,
            backend: None,
        }
    }

    /// The bearer of an API access token: its subject, and its actor (with the mode the
    /// grants allow them now) when it is an impersonation token; until the token expires.
    pub fn of_api_token(
        subject: User,
        actor: Option<(User, ImpersonationMode)>,
        via: Via,
        expires_at: i64,
        impersonation_id: Option<i64>,
    ) -> Self {
        let (actor, mode) = actor.map_or((None, None), |(actor, mode)| (Some(actor), Some(mode)));
        Principal { subject, actor, via, read_only: false, expires_at: Some(expires_at), impersonation_id, mode, webapp: None, backend: None }
    }

    /// The bearer of a code webapp's token: its backend's own token (the subject is the account
    /// it runs as), or one for its browser user (`backend` names that account), who may be
    /// impersonated in the UI; until the token expires.
    pub fn of_webapp_token(
        subject: User,
        impersonation: Option<(User, &ImpersonationRow)>,
        backend: Option<User>,
        webapp: WebappRef,
        expires_at: i64,
    ) -> Self {
        let via = Via::Webapp { name: webapp.name.clone() };
        let base = match impersonation {
            Some((actor, row)) => Principal::impersonating(actor, subject, row),
            None => Principal::signed_in(subject),
        };
        let expires_at = base.expires_at.map_or(expires_at, |ends| ends.min(expires_at));
        Principal { via, expires_at: Some(expires_at), webapp: Some(webapp), backend, ..base }
    }

    /// The code webapp whose token the request carries.
    pub fn webapp(&self) -> Option<&WebappRef> {
        self.webapp.as_ref()
    }

    /// Who asked for a job, as its row recorded them.
    pub fn of_job(triggered_by: User, impersonated_by: Option<User>, via: Via) -> Self {
        Principal { actor: impersonated_by, via, ..Principal::signed_in(triggered_by) }
    }

    pub fn subject(&self) -> &User {
        &self.subject
    }

    /// The impersonator, when impersonating.
    pub fn actor(&self) -> Option<&User> {
        self.actor.as_ref()
    }

    pub fn via(&self) -> &Via {
        &self.via
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// When the impersonation or token ends (ms), if it does.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    pub fn impersonation_id(&self) -> Option<i64> {
        self.impersonation_id
    }

    /// The impersonation's mode; none when acting as oneself.
    pub fn mode(&self) -> Option<ImpersonationMode> {
        self.mode
    }

    /// The mode for an audit row's reason (`mode: On behalf of`); empty when acting as oneself.
    pub fn mode_note(&self) -> String {
        self.mode.map(|m| format!("mode: {}", m.label())).unwrap_or_default()
    }

    /// The user whose permissions every check uses: the subject, or the impersonator in full
    /// mode with the impersonator's permissions. (Who the request acts as, what it shows and
    /// whom it attributes to stay the subject.)
    pub fn permissions_user(&self) -> &User {
        self.side(modes::permissions_from(self.mode))
    }

    /// The user whose price group prices the shop: the impersonator on behalf of, else the subject.
    pub fn price_user(&self) -> &User {
        self.side(modes::prices_from(self.mode))
    }

    /// The user shown as having placed an order (whose customer is always the subject).
    pub fn order_placed_by(&self) -> &User {
        self.side(modes::order_placed_by(self.mode))
    }

    /// The user shown as a comment's author: the impersonator on behalf of, else the subject.
    pub fn comment_author(&self) -> &User {
        self.side(modes::comment_author(self.mode))
    }

    fn side(&self, side: Side) -> &User {
        match (side, &self.actor) {
            (Side::Actor, Some(actor)) => actor,
            _ => &self.subject,
        }
    }

    /// Whether someone else acts as the subject.
    pub fn is_impersonating(&self) -> bool {
        self.actor.is_some()
    }

    pub fn tenant_id(&self) -> i64 {
        self.subject.tenant_id
    }

    pub fn subject_view(&self) -> UserView {
        self.subject.view()
    }

    /// The person really acting: the impersonator when there is one.
    pub fn acting_user(&self) -> &User {
        self.actor.as_ref().unwrap_or(&self.subject)
    }

    /// The audit entry of work done by someone for another — an impersonator, or a webapp's
    /// backend for its browser user — naming both; none for someone acting as themselves, whose
    /// work the job log and their own records already name.
    pub fn audit_if_acting_for_another(&self, action: AuditAction, target: String, outcome: Outcome, reason: String) -> Option<AuditEntry> {
        self.audited_actor().map(|_| self.audit(action, target, outcome, reason))
    }

    /// Who the audit names as acting for the subject: the impersonator, else the webapp
    /// backend's account.
    fn audited_actor(&self) -> Option<&User> {
        self.actor.as_ref().or(self.backend.as_ref())
    }

    /// An audit entry for something this principal did, naming both people when someone acts
    /// for the subject.
    pub fn audit(&self, action: AuditAction, target: String, outcome: Outcome, reason: String) -> AuditEntry {
        AuditEntry {
            tenant_id: self.tenant_id(),
            actor_user_id: self.audited_actor().unwrap_or(&self.subject).id,
            subject_user_id: self.audited_actor().map(|_| self.subject.id),
            impersonation_id: self.impersonation_id,
            action: action.as_str().into(),
            target,
            outcome,
            reason,
            via: self.via.label(),
        }
    }
}

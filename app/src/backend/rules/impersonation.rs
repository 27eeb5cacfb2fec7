//! THE rules of impersonation: who may act as whom, for how long, and what they may change.
//! Pure — (actor, subject, grant, state, now) in, allowed or a reason out — so the UI, server
//! functions and the token endpoint all ask the same functions, and each rule is unit-tested
//! for both outcomes.

use crate::backend::domain::User;

/// The longest reason (free text or ticket id) accepted when starting.
pub const MAX_REASON: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImpersonationDenial {
    SwitchedOff,
    ActorDisabled,
    AlreadyImpersonating,
    SelfImpersonation,
    OtherTenant,
    SubjectIsAdmin,
    SubjectDisabled,
    SubjectIsServiceAccount,
    NoGrant,
    MissingReason,
    ReasonTooLong,
    ReadOnly,
}

impl ImpersonationDenial {
    pub fn message(self) -> &'static str {
        match self {
            ImpersonationDenial::SwitchedOff => "impersonation is switched off",
            ImpersonationDenial::ActorDisabled => "your account is disabled",
            ImpersonationDenial::AlreadyImpersonating => "you are already impersonating someone; stop first",
            ImpersonationDenial::SelfImpersonation => "you cannot impersonate yourself",
            ImpersonationDenial::OtherTenant => "the user belongs to another tenant",
            ImpersonationDenial::SubjectIsAdmin => "administrators cannot be impersonated",
            ImpersonationDenial::SubjectDisabled => "the user is disabled",
            ImpersonationDenial::SubjectIsServiceAccount => "service accounts cannot be impersonated",
            ImpersonationDenial::NoGrant => "you have no grant to impersonate this user",
            ImpersonationDenial::MissingReason => "a reason is required to impersonate",
            ImpersonationDenial::ReasonTooLong => "the reason is too long (at most 500 characters)",
            ImpersonationDenial::ReadOnly => "read-only impersonation: changes are not allowed",
        }
    }

    /// Whether the request itself was malformed (400) rather than refused (403).
    pub fn is_bad_input(self) -> bool {
        matches!(self, ImpersonationDenial::MissingReason | ImpersonationDenial::ReasonTooLong)
    }
}

/// Why an ongoing impersonation ended by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutomaticEnd {
    Expired,
    RightLost(ImpersonationDenial),
}

/// Whether `actor` may impersonate `subject` at all: admins may impersonate the non-admin
/// people of their own tenant; others need a grant, which never reaches an admin, a service
/// account, a disabled user or another tenant.
pub fn may_impersonate(actor: &User, subject: &User, has_grant: bool, enabled: bool) -> Result<(), ImpersonationDenial> {
    if !enabled {
        return Err(ImpersonationDenial::SwitchedOff);
    }
    if actor.disabled {
        return Err(ImpersonationDenial::ActorDisabled);
    }
    if actor.id == subject.id {
        return Err(ImpersonationDenial::SelfImpersonation);
    }
    if actor.tenant_id != subject.tenant_id {
        return Err(ImpersonationDenial::OtherTenant);
    }
    if subject.is_admin {
        return Err(ImpersonationDenial::SubjectIsAdmin);
    }
    if subject.is_service_account() {
        return Err(ImpersonationDenial::SubjectIsServiceAccount);
    }
    if subject.disabled {
        return Err(ImpersonationDenial::SubjectDisabled);
    }
    if actor.is_admin || has_grant {
        Ok(())
    } else {
        Err(ImpersonationDenial::NoGrant)
    }
}

/// Whether `actor`, as signed in now, may be offered to impersonate `subject` (picker, buttons):
/// the right to impersonate, and no nesting.
pub fn may_offer(
    actor: &User,
    subject: &User,
    has_grant: bool,
    enabled: bool,
    already_impersonating: bool,
) -> Result<(), ImpersonationDenial> {
    no_nesting(already_impersonating)?;
    may_impersonate(actor, subject, has_grant, enabled)
}

/// Someone acting as another user (in the UI, or with an API impersonation token) cannot
/// impersonate anyone else from there.
pub fn no_nesting(already_impersonating: bool) -> Result<(), ImpersonationDenial> {
    if already_impersonating {
        Err(ImpersonationDenial::AlreadyImpersonating)
    } else {
        Ok(())
    }
}

/// Whether a grant may name `subject` on the impersonated side: one that reaches an
/// administrator or a service account would never apply, so it is refused outright.
pub fn may_be_granted(subject: &User) -> Result<(), ImpersonationDenial> {
    if subject.is_admin {
        Err(ImpersonationDenial::SubjectIsAdmin)
    } else if subject.is_service_account() {
        Err(ImpersonationDenial::SubjectIsServiceAccount)
    } else {
        Ok(())
    }
}

/// The reason given to start, trimmed; required and bounded.
pub fn check_reason(reason: &str) -> Result<&str, ImpersonationDenial> {
    let reason = reason.trim();
    if reason.is_empty() {
        Err(ImpersonationDenial::MissingReason)
    } else if reason.chars().count() > MAX_REASON {
        Err(ImpersonationDenial::ReasonTooLong)
    } else {
        Ok(reason)
    }
}

/// Starting an impersonation: no nesting, a reason, and the right to impersonate.
pub fn may_start(
    actor: &User,
    subject: &User,
    has_grant: bool,
    enabled: bool,
    already_impersonating: bool,
    reason: &str,
) -> Result<(), ImpersonationDenial> {
    no_nesting(already_impersonating)?;
    check_reason(reason)?;
    may_offer(actor, subject, has_grant, enabled, false)
}

/// Whether an ongoing impersonation may go on, checked on every request: it ends at its time
/// limit, and as soon as the actor loses the right (demoted, disabled, grant revoked, switched
/// off) or the subject stops being someone who may be impersonated.
pub fn may_continue(
    actor: &User,
    subject: &User,
    has_grant: bool,
    enabled: bool,
    expires_at: i64,
    now: i64,
) -> Result<(), AutomaticEnd> {
    if now >= expires_at {
        return Err(AutomaticEnd::Expired);
    }
    may_impersonate(actor, subject, has_grant, enabled).map_err(AutomaticEnd::RightLost)
}

/// When an impersonation started at `now` must end.
pub fn expires_at(now: i64, limit_minutes: i64) -> i64 {
    now + limit_minutes.clamp(1, 24 * 60) * 60_000
}

/// When an API impersonation token issued at `now` (seconds) expires: within a token's
/// lifetime, within the impersonation time limit as in the UI, and never after a token it
/// derives from (`bounds`).
pub fn token_expiry(now: i64, limit_minutes: i64, token_seconds: i64, bounds: impl IntoIterator<Item = i64>) -> i64 {
    let limit = expires_at(now * 1000, limit_minutes) / 1000;
    bounds.into_iter().fold((now + token_seconds).min(limit), i64::min)
}

/// Whether a change may be made: read-only impersonation refuses every one.
pub fn may_change(read_only: bool) -> Result<(), ImpersonationDenial> {
    if read_only {
        Err(ImpersonationDenial::ReadOnly)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::domain::AccountType;

    fn user(id: i64, tenant_id: i64) -> User {
        User {
            id,
            tenant_id,
            email: format!("u{id}@t.example"),
            display_name: format!("U{id}"),
            password_hash: Some("h".into()),
            is_admin: false,
            account_type: AccountType::User,
            disabled: false,
        }
    }
    fn admin(id: i64) -> User {
        User { is_admin: true, ..user(id, 1) }
    }

    #[test]
    fn admins_impersonate_members_of_their_tenant() {
        assert_eq!(may_impersonate(&admin(1), &user(2, 1), false, true), Ok(()));
    }

    #[test]
    fn nobody_impersonates_an_admin_even_through_a_grant() {
        assert_eq!(may_impersonate(&admin(1), &admin(2), false, true), Err(ImpersonationDenial::SubjectIsAdmin));
        // A grant on a group that contains an admin does not reach the admin.
        assert_eq!(may_impersonate(&user(3, 1), &admin(2), true, true), Err(ImpersonationDenial::SubjectIsAdmin));
    }

    #[test]
    fn not_oneself() {
        assert_eq!(may_impersonate(&admin(1), &admin(1), true, true), Err(ImpersonationDenial::SelfImpersonation));
        assert_eq!(may_impersonate(&user(3, 1), &user(3, 1), true, true), Err(ImpersonationDenial::SelfImpersonation));
    }

    #[test]
    fn not_disabled_users_or_service_accounts() {
        let disabled = User { disabled: true, ..user(2, 1) };
        assert_eq!(may_impersonate(&admin(1), &disabled, false, true), Err(ImpersonationDenial::SubjectDisabled));
        let service = User { account_type: AccountType::Service, password_hash: None, ..user(2, 1) };
        assert_eq!(may_impersonate(&admin(1), &service, true, true), Err(ImpersonationDenial::SubjectIsServiceAccount));
        let disabled_actor = User { disabled: true, ..admin(1) };
        assert_eq!(may_impersonate(&disabled_actor, &user(2, 1), true, true), Err(ImpersonationDenial::ActorDisabled));
    }

    #[test]
    fn never_across_tenants() {
        assert_eq!(may_impersonate(&admin(1), &user(2, 2), false, true), Err(ImpersonationDenial::OtherTenant));
        assert_eq!(may_impersonate(&user(3, 1), &user(2, 2), true, true), Err(ImpersonationDenial::OtherTenant));
    }

    #[test]
    fn members_need_a_grant() {
        assert_eq!(may_impersonate(&user(3, 1), &user(2, 1), false, true), Err(ImpersonationDenial::NoGrant));
        assert_eq!(may_impersonate(&user(3, 1), &user(2, 1), true, true), Ok(()));
    }

    #[test]
    fn the_global_switch_stops_everyone() {
        assert_eq!(may_impersonate(&admin(1), &user(2, 1), true, false), Err(ImpersonationDenial::SwitchedOff));
        assert_eq!(may_impersonate(&admin(1), &user(2, 1), true, true), Ok(()));
    }

    #[test]
    fn no_nesting_and_a_reason_is_required() {
        let (a, s) = (admin(1), user(2, 1));
        assert_eq!(may_start(&a, &s, false, true, false, "TICKET-42"), Ok(()));
        assert_eq!(may_start(&a, &s, false, true, true, "TICKET-42"), Err(ImpersonationDenial::AlreadyImpersonating));
        assert_eq!(may_start(&a, &s, false, true, false, "  "), Err(ImpersonationDenial::MissingReason));
        assert_eq!(may_start(&a, &s, false, true, false, &"x".repeat(501)), Err(ImpersonationDenial::ReasonTooLong));
        assert_eq!(may_start(&a, &s, false, true, false, &"é".repeat(500)), Ok(()));
        assert!(ImpersonationDenial::MissingReason.is_bad_input() && !ImpersonationDenial::NoGrant.is_bad_input());
        assert_eq!(no_nesting(true), Err(ImpersonationDenial::AlreadyImpersonating));
        assert_eq!(no_nesting(false), Ok(()));
    }

    #[test]
    fn impersonation_ends_at_its_limit_and_when_the_right_is_lost() {
        let (a, s) = (admin(1), user(2, 1));
        let end = expires_at(1_000, 60);
        assert_eq!(end, 1_000 + 3_600_000);
        assert_eq!(may_continue(&a, &s, false, true, end, end - 1), Ok(()));
        assert_eq!(may_continue(&a, &s, false, true, end, end), Err(AutomaticEnd::Expired));
        let demoted = User { is_admin: false, ..admin(1) };
        assert_eq!(may_continue(&demoted, &s, false, true, end, 2_000), Err(AutomaticEnd::RightLost(ImpersonationDenial::NoGrant)));
        let member = user(3, 1);
        assert_eq!(may_continue(&member, &s, true, true, end, 2_000), Ok(()));
        assert_eq!(may_continue(&member, &s, false, true, end, 2_000), Err(AutomaticEnd::RightLost(ImpersonationDenial::NoGrant)));
        assert_eq!(may_continue(&a, &s, false, false, end, 2_000), Err(AutomaticEnd::RightLost(ImpersonationDenial::SwitchedOff)));
        let promoted = User { is_admin: true, ..user(2, 1) };
        assert_eq!(may_continue(&a, &promoted, false, true, end, 2_000), Err(AutomaticEnd::RightLost(ImpersonationDenial::SubjectIsAdmin)));
    }

    #[test]
    fn offers_and_grants() {
        let (a, s) = (admin(1), user(2, 1));
        assert_eq!(may_offer(&a, &s, false, true, false), Ok(()));
        assert_eq!(may_offer(&a, &s, false, true, true), Err(ImpersonationDenial::AlreadyImpersonating));
        assert_eq!(may_be_granted(&s), Ok(()));
        assert_eq!(may_be_granted(&admin(3)), Err(ImpersonationDenial::SubjectIsAdmin));
        let service = User { account_type: AccountType::Service, ..user(4, 1) };
        assert_eq!(may_be_granted(&service), Err(ImpersonationDenial::SubjectIsServiceAccount));
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(expires_at(0, 0), 60_000);
        assert_eq!(token_expiry(1_000, 60, 3_600, []), 4_600);
        assert_eq!(token_expiry(1_000, 10, 3_600, []), 1_600, "the impersonation limit");
        assert_eq!(token_expiry(1_000, 0, 3_600, []), 1_060, "clamped like a UI impersonation");
        assert_eq!(token_expiry(1_000, 60, 3_600, [2_000, 1_500]), 1_500, "never after what it derives from");
        assert_eq!(expires_at(0, 100_000), 24 * 60 * 60_000);
    }

    #[test]
    fn read_only_refuses_changes() {
        assert_eq!(may_change(true), Err(ImpersonationDenial::ReadOnly));
        assert_eq!(may_change(false), Ok(()));
    }
}

//! THE rules of impersonation: who may act as whom, for how long, and what they may change.
//! Pure — (actor, subject, grant, state, now) in, allowed or a reason out — so the UI, server
//! functions and the token endpoint all ask the same functions, and each rule is unit-tested
//! for both outcomes.

use crate::backend::store::users::UserRow;

/// The longest reason (free text or ticket id) accepted when starting.
pub const MAX_REASON: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
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

impl Denial {
    pub fn message(self) -> &'static str {
        match self {
            Denial::SwitchedOff => "impersonation is switched off",
            Denial::ActorDisabled => "your account is disabled",
            Denial::AlreadyImpersonating => "you are already impersonating someone; stop first",
            Denial::SelfImpersonation => "you cannot impersonate yourself",
            Denial::OtherTenant => "the user belongs to another tenant",
            Denial::SubjectIsAdmin => "administrators cannot be impersonated",
            Denial::SubjectDisabled => "the user is disabled",
            Denial::SubjectIsServiceAccount => "service accounts cannot be impersonated",
            Denial::NoGrant => "you have no grant to impersonate this user",
            Denial::MissingReason => "a reason is required to impersonate",
            Denial::ReasonTooLong => "the reason is too long (at most 500 characters)",
            Denial::ReadOnly => "read-only impersonation: changes are not allowed",
        }
    }

    /// Whether the request itself was malformed (400) rather than refused (403).
    pub fn is_bad_input(self) -> bool {
        matches!(self, Denial::MissingReason | Denial::ReasonTooLong)
    }
}

/// Why an ongoing impersonation ended by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutomaticEnd {
    Expired,
    RightLost(Denial),
}

/// Whether `actor` may impersonate `subject` at all: admins may impersonate the non-admin
/// people of their own tenant; others need a grant, which never reaches an admin, a service
/// account, a disabled user or another tenant.
pub fn may_impersonate(actor: &UserRow, subject: &UserRow, has_grant: bool, enabled: bool) -> Result<(), Denial> {
    if !enabled {
        return Err(Denial::SwitchedOff);
    }
    if actor.disabled {
        return Err(Denial::ActorDisabled);
    }
    if actor.id == subject.id {
        return Err(Denial::SelfImpersonation);
    }
    if actor.tenant_id != subject.tenant_id {
        return Err(Denial::OtherTenant);
    }
    if subject.is_admin {
        return Err(Denial::SubjectIsAdmin);
    }
    if subject.is_service_account() {
        return Err(Denial::SubjectIsServiceAccount);
    }
    if subject.disabled {
        return Err(Denial::SubjectDisabled);
    }
    if actor.is_admin || has_grant {
        Ok(())
    } else {
        Err(Denial::NoGrant)
    }
}

/// Whether `actor`, as signed in now, may be offered to impersonate `subject` (picker, buttons):
/// the right to impersonate, and no nesting.
pub fn may_offer(
    actor: &UserRow,
    subject: &UserRow,
    has_grant: bool,
    enabled: bool,
    already_impersonating: bool,
) -> Result<(), Denial> {
    no_nesting(already_impersonating)?;
    may_impersonate(actor, subject, has_grant, enabled)
}

/// Someone acting as another user (in the UI, or with an API impersonation token) cannot
/// impersonate anyone else from there.
pub fn no_nesting(already_impersonating: bool) -> Result<(), Denial> {
    if already_impersonating {
        Err(Denial::AlreadyImpersonating)
    } else {
        Ok(())
    }
}

/// Whether a grant may name `subject` on the impersonated side: one that reaches an
/// administrator or a service account would never apply, so it is refused outright.
pub fn may_be_granted(subject: &UserRow) -> Result<(), Denial> {
    if subject.is_admin {
        Err(Denial::SubjectIsAdmin)
    } else if subject.is_service_account() {
        Err(Denial::SubjectIsServiceAccount)
    } else {
        Ok(())
    }
}

/// The reason given to start, trimmed; required and bounded.
pub fn check_reason(reason: &str) -> Result<&str, Denial> {
    let reason = reason.trim();
    if reason.is_empty() {
        Err(Denial::MissingReason)
    } else if reason.chars().count() > MAX_REASON {
        Err(Denial::ReasonTooLong)
    } else {
        Ok(reason)
    }
}

/// Starting an impersonation: no nesting, a reason, and the right to impersonate.
pub fn may_start(
    actor: &UserRow,
    subject: &UserRow,
    has_grant: bool,
    enabled: bool,
    already_impersonating: bool,
    reason: &str,
) -> Result<(), Denial> {
    no_nesting(already_impersonating)?;
    check_reason(reason)?;
    may_offer(actor, subject, has_grant, enabled, false)
}

/// Whether an ongoing impersonation may go on, checked on every request: it ends at its time
/// limit, and as soon as the actor loses the right (demoted, disabled, grant revoked, switched
/// off) or the subject stops being someone who may be impersonated.
pub fn may_continue(
    actor: &UserRow,
    subject: &UserRow,
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
pub fn may_change(read_only: bool) -> Result<(), Denial> {
    if read_only {
        Err(Denial::ReadOnly)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, tenant_id: i64) -> UserRow {
        UserRow {
            id,
            tenant_id,
            email: format!("u{id}@t.example"),
            display_name: format!("U{id}"),
            password_hash: Some("h".into()),
            is_admin: false,
            account_type: "user".into(),
            disabled: false,
        }
    }
    fn admin(id: i64) -> UserRow {
        UserRow { is_admin: true, ..user(id, 1) }
    }

    #[test]
    fn admins_impersonate_members_of_their_tenant() {
        assert_eq!(may_impersonate(&admin(1), &user(2, 1), false, true), Ok(()));
    }

    #[test]
    fn nobody_impersonates_an_admin_even_through_a_grant() {
        assert_eq!(may_impersonate(&admin(1), &admin(2), false, true), Err(Denial::SubjectIsAdmin));
        // A grant on a group that contains an admin does not reach the admin.
        assert_eq!(may_impersonate(&user(3, 1), &admin(2), true, true), Err(Denial::SubjectIsAdmin));
    }

    #[test]
    fn not_oneself() {
        assert_eq!(may_impersonate(&admin(1), &admin(1), true, true), Err(Denial::SelfImpersonation));
        assert_eq!(may_impersonate(&user(3, 1), &user(3, 1), true, true), Err(Denial::SelfImpersonation));
    }

    #[test]
    fn not_disabled_users_or_service_accounts() {
        let disabled = UserRow { disabled: true, ..user(2, 1) };
        assert_eq!(may_impersonate(&admin(1), &disabled, false, true), Err(Denial::SubjectDisabled));
        let service = UserRow { account_type: "service".into(), password_hash: None, ..user(2, 1) };
        assert_eq!(may_impersonate(&admin(1), &service, true, true), Err(Denial::SubjectIsServiceAccount));
        let disabled_actor = UserRow { disabled: true, ..admin(1) };
        assert_eq!(may_impersonate(&disabled_actor, &user(2, 1), true, true), Err(Denial::ActorDisabled));
    }

    #[test]
    fn never_across_tenants() {
        assert_eq!(may_impersonate(&admin(1), &user(2, 2), false, true), Err(Denial::OtherTenant));
        assert_eq!(may_impersonate(&user(3, 1), &user(2, 2), true, true), Err(Denial::OtherTenant));
    }

    #[test]
    fn members_need_a_grant() {
        assert_eq!(may_impersonate(&user(3, 1), &user(2, 1), false, true), Err(Denial::NoGrant));
        assert_eq!(may_impersonate(&user(3, 1), &user(2, 1), true, true), Ok(()));
    }

    #[test]
    fn the_global_switch_stops_everyone() {
        assert_eq!(may_impersonate(&admin(1), &user(2, 1), true, false), Err(Denial::SwitchedOff));
        assert_eq!(may_impersonate(&admin(1), &user(2, 1), true, true), Ok(()));
    }

    #[test]
    fn no_nesting_and_a_reason_is_required() {
        let (a, s) = (admin(1), user(2, 1));
        assert_eq!(may_start(&a, &s, false, true, false, "TICKET-42"), Ok(()));
        assert_eq!(may_start(&a, &s, false, true, true, "TICKET-42"), Err(Denial::AlreadyImpersonating));
        assert_eq!(may_start(&a, &s, false, true, false, "  "), Err(Denial::MissingReason));
        assert_eq!(may_start(&a, &s, false, true, false, &"x".repeat(501)), Err(Denial::ReasonTooLong));
        assert_eq!(may_start(&a, &s, false, true, false, &"é".repeat(500)), Ok(()));
        assert!(Denial::MissingReason.is_bad_input() && !Denial::NoGrant.is_bad_input());
        assert_eq!(no_nesting(true), Err(Denial::AlreadyImpersonating));
        assert_eq!(no_nesting(false), Ok(()));
    }

    #[test]
    fn impersonation_ends_at_its_limit_and_when_the_right_is_lost() {
        let (a, s) = (admin(1), user(2, 1));
        let end = expires_at(1_000, 60);
        assert_eq!(end, 1_000 + 3_600_000);
        assert_eq!(may_continue(&a, &s, false, true, end, end - 1), Ok(()));
        assert_eq!(may_continue(&a, &s, false, true, end, end), Err(AutomaticEnd::Expired));
        let demoted = UserRow { is_admin: false, ..admin(1) };
        assert_eq!(may_continue(&demoted, &s, false, true, end, 2_000), Err(AutomaticEnd::RightLost(Denial::NoGrant)));
        let member = user(3, 1);
        assert_eq!(may_continue(&member, &s, true, true, end, 2_000), Ok(()));
        assert_eq!(may_continue(&member, &s, false, true, end, 2_000), Err(AutomaticEnd::RightLost(Denial::NoGrant)));
        assert_eq!(may_continue(&a, &s, false, false, end, 2_000), Err(AutomaticEnd::RightLost(Denial::SwitchedOff)));
        let promoted = UserRow { is_admin: true, ..user(2, 1) };
        assert_eq!(may_continue(&a, &promoted, false, true, end, 2_000), Err(AutomaticEnd::RightLost(Denial::SubjectIsAdmin)));
    }

    #[test]
    fn offers_and_grants() {
        let (a, s) = (admin(1), user(2, 1));
        assert_eq!(may_offer(&a, &s, false, true, false), Ok(()));
        assert_eq!(may_offer(&a, &s, false, true, true), Err(Denial::AlreadyImpersonating));
        assert_eq!(may_be_granted(&s), Ok(()));
        assert_eq!(may_be_granted(&admin(3)), Err(Denial::SubjectIsAdmin));
        let service = UserRow { account_type: "service".into(), ..user(4, 1) };
        assert_eq!(may_be_granted(&service), Err(Denial::SubjectIsServiceAccount));
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
        assert_eq!(may_change(true), Err(Denial::ReadOnly));
        assert_eq!(may_change(false), Ok(()));
    }
}

//! The rules of impersonation modes: which modes an actor may use on a subject, which one a
//! start gets when none is asked for, and from whose side each thing an impersonation does
//! comes — permissions, prices, the person an order is placed by, the author of a comment.
//! Pure, like the other rules: callers load the grants, these functions decide.

use crate::model::ImpersonationMode;

/// Whose account a thing comes from while impersonating: the real person at the keyboard
/// (the actor) or the person they act as (the subject). Not impersonating, it is the
/// signed-in person, the subject of their own session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Actor,
    Subject,
}

/// Why a start was refused its mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeRefusal {
    /// No grant of the actor's allows this mode on this subject.
    NotGranted,
    /// The form asked for a word that is not a mode.
    Unknown,
    /// "Use impersonator's permissions" was ticked with a mode other than Full.
    FlagWithoutFull,
}

impl ModeRefusal {
    pub fn message(self) -> &'static str {
        match self {
            ModeRefusal::NotGranted => "your grant does not allow this mode",
            ModeRefusal::Unknown => "unknown impersonation mode",
            ModeRefusal::FlagWithoutFull => "\"Use impersonator's permissions\" applies to full mode only",
        }
    }

    /// Whether the request itself was malformed (400) rather than refused (403).
    pub fn is_bad_input(self) -> bool {
        matches!(self, ModeRefusal::Unknown | ModeRefusal::FlagWithoutFull)
    }
}

/// Whose permissions count.
pub fn permissions_from(mode: Option<ImpersonationMode>) -> Side {
    match mode {
        Some(ImpersonationMode::FullImpersonatorPermissions) => Side::Actor,
        _ => Side::Subject,
    }
}

/// On behalf of, the actor shops and writes as themself for the subject: prices come from the
/// actor's price group, and the actor is shown as having placed the order (whose customer is
/// always the subject) and as a comment's author. In the full modes all three are the subject's.
fn actor_when_on_behalf(mode: Option<ImpersonationMode>) -> Side {
    match mode {
        Some(ImpersonationMode::OnBehalfOf) => Side::Actor,
        _ => Side::Subject,
    }
}

/// Whose price group prices an order.
pub fn prices_from(mode: Option<ImpersonationMode>) -> Side {
    actor_when_on_behalf(mode)
}

/// Who is shown as having placed an order.
pub fn order_placed_by(mode: Option<ImpersonationMode>) -> Side {
    actor_when_on_behalf(mode)
}

/// Who is shown as a comment's author.
pub fn comment_author(mode: Option<ImpersonationMode>) -> Side {
    actor_when_on_behalf(mode)
}

/// The modes an actor may use on a subject: every mode for an administrator, else those of
/// the grants that cover the pair, least powerful first.
pub fn allowed_modes(actor_is_admin: bool, granted: &[ImpersonationMode]) -> Vec<ImpersonationMode> {
    ImpersonationMode::ALL.into_iter().filter(|mode| actor_is_admin || granted.contains(mode)).collect()
}

/// The mode of a start that asks for none: Full for an administrator, else the least powerful
/// mode granted; `None` when nothing is allowed.
pub fn default_mode(actor_is_admin: bool, granted: &[ImpersonationMode]) -> Option<ImpersonationMode> {
    if actor_is_admin {
        return Some(ImpersonationMode::Full);
    }
    allowed_modes(false, granted).first().copied()
}

/// The mode a start gets: the one asked for if allowed, else the default.
pub fn choose_mode(
    asked: Option<ImpersonationMode>,
    actor_is_admin: bool,
    granted: &[ImpersonationMode],
) -> Result<ImpersonationMode, ModeRefusal> {
    match asked {
        Some(mode) if allowed_modes(actor_is_admin, granted).contains(&mode) => Ok(mode),
        Some(_) => Err(ModeRefusal::NotGranted),
        None => default_mode(actor_is_admin, granted).ok_or(ModeRefusal::NotGranted),
    }
}

/// The mode a form asks for: a mode word (or none, for the default) and the checkbox
/// "Use impersonator's permissions", which only turns Full into its variant.
pub fn mode_from_form(word: Option<&str>, use_impersonator_permissions: bool) -> Result<Option<ImpersonationMode>, ModeRefusal> {
    let mode = match word.map(str::trim).filter(|w| !w.is_empty()) {
        None => None,
        Some(word) => Some(ImpersonationMode::from_db(word).ok_or(ModeRefusal::Unknown)?),
    };
    match (mode, use_impersonator_permissions) {
        (_, false) => Ok(mode),
        (Some(ImpersonationMode::Full | ImpersonationMode::FullImpersonatorPermissions), true) => {
            Ok(Some(ImpersonationMode::FullImpersonatorPermissions))
        }
        (_, true) => Err(ModeRefusal::FlagWithoutFull),
    }
}

/// Whether an ongoing impersonation may go on in its mode: a grant switched to another mode,
/// or removed, ends it.
pub fn mode_still_allowed(mode: ImpersonationMode, actor_is_admin: bool, granted: &[ImpersonationMode]) -> bool {
    allowed_modes(actor_is_admin, granted).contains(&mode)
}

/// Administration (users, groups, grants, the audit log, API clients) is done as oneself, never
/// while impersonating, whatever the mode: even with the impersonator's permissions, what it
/// changes and the secrets it shows belong to the person at the keyboard, not to the account
/// they act as.
pub fn may_administer_while(impersonating: bool) -> Result<(), &'static str> {
    if impersonating {
        Err("administration is not available while impersonating; stop impersonating first")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ImpersonationMode::{Full, FullImpersonatorPermissions as FullActor, OnBehalfOf};

    #[test]
    fn each_mode_takes_each_thing_from_its_side() {
        assert_eq!(permissions_from(None), Side::Subject);
        assert_eq!(permissions_from(Some(OnBehalfOf)), Side::Subject);
        assert_eq!(permissions_from(Some(Full)), Side::Subject);
        assert_eq!(permissions_from(Some(FullActor)), Side::Actor);

        for side in [prices_from, order_placed_by, comment_author] {
            assert_eq!(side(None), Side::Subject);
            assert_eq!(side(Some(OnBehalfOf)), Side::Actor);
            assert_eq!(side(Some(Full)), Side::Subject);
            assert_eq!(side(Some(FullActor)), Side::Subject);
        }
    }

    #[test]
    fn an_admin_may_use_every_mode_and_starts_full() {
        assert_eq!(allowed_modes(true, &[]), vec![OnBehalfOf, Full, FullActor]);
        assert_eq!(default_mode(true, &[]), Some(Full));
        assert_eq!(choose_mode(None, true, &[]), Ok(Full));
        assert_eq!(choose_mode(Some(OnBehalfOf), true, &[]), Ok(OnBehalfOf));
        assert_eq!(choose_mode(Some(FullActor), true, &[]), Ok(FullActor));
    }

    #[test]
    fn a_granted_user_gets_exactly_the_modes_granted() {
        assert_eq!(allowed_modes(false, &[OnBehalfOf]), vec![OnBehalfOf]);
        assert_eq!(choose_mode(None, false, &[OnBehalfOf]), Ok(OnBehalfOf));
        assert_eq!(choose_mode(Some(Full), false, &[OnBehalfOf]), Err(ModeRefusal::NotGranted));
        assert_eq!(choose_mode(Some(FullActor), false, &[Full]), Err(ModeRefusal::NotGranted));
    }

    #[test]
    fn two_grants_allow_both_and_default_to_the_least_powerful() {
        let granted = [Full, OnBehalfOf, Full];
        assert_eq!(allowed_modes(false, &granted), vec![OnBehalfOf, Full]);
        assert_eq!(default_mode(false, &granted), Some(OnBehalfOf));
        assert_eq!(choose_mode(Some(Full), false, &granted), Ok(Full));
    }

    #[test]
    fn without_a_grant_no_mode_is_allowed() {
        assert!(allowed_modes(false, &[]).is_empty());
        assert_eq!(default_mode(false, &[]), None);
        assert_eq!(choose_mode(None, false, &[]), Err(ModeRefusal::NotGranted));
    }

    #[test]
    fn a_grant_switched_to_another_mode_ends_the_impersonation() {
        assert!(mode_still_allowed(OnBehalfOf, false, &[OnBehalfOf]));
        assert!(!mode_still_allowed(OnBehalfOf, false, &[Full]));
        assert!(!mode_still_allowed(Full, false, &[]));
        assert!(mode_still_allowed(FullActor, true, &[]));
    }

    #[test]
    fn the_form_names_a_mode_and_the_flag_needs_full() {
        assert_eq!(mode_from_form(None, false), Ok(None));
        assert_eq!(mode_from_form(Some(" "), false), Ok(None));
        assert_eq!(mode_from_form(Some("on_behalf_of"), false), Ok(Some(OnBehalfOf)));
        assert_eq!(mode_from_form(Some("full"), false), Ok(Some(Full)));
        assert_eq!(mode_from_form(Some("full"), true), Ok(Some(FullActor)));
        assert_eq!(mode_from_form(Some("on_behalf_of"), true), Err(ModeRefusal::FlagWithoutFull));
        assert_eq!(mode_from_form(None, true), Err(ModeRefusal::FlagWithoutFull));
        assert_eq!(mode_from_form(Some("root"), false), Err(ModeRefusal::Unknown));
        assert!(ModeRefusal::Unknown.is_bad_input() && !ModeRefusal::NotGranted.is_bad_input());
    }

    #[test]
    fn mode_words_and_banners() {
        for mode in ImpersonationMode::ALL {
            assert_eq!(ImpersonationMode::from_db(mode.as_db()), Some(mode));
        }
        assert_eq!(ImpersonationMode::from_db("Full"), None);
        assert_eq!(OnBehalfOf.banner_prefix(), "You are acting on behalf of");
        assert_eq!(Full.banner_prefix(), "You are impersonating");
        assert_eq!(FullActor.banner_prefix(), "You are impersonating");
    }

    #[test]
    fn administration_is_done_as_oneself() {
        assert_eq!(may_administer_while(false), Ok(()));
        assert!(may_administer_while(true).is_err());
    }
}

//! API clients: when their credentials are refused, and what their tokens may and may not do.

use crate::backend::tokens::SubjectPolicy;

/// What a caller is told when a client id is unknown or its secret wrong: the same words for
/// both, so guessing client ids learns nothing.
pub const CLIENT_REFUSED: &str = "unknown client or wrong client secret";

/// Why client credentials were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientDenial {
    WrongSecret,
    Revoked,
    OwnerDisabled,
}

impl ClientDenial {
    /// For the audit row.
    pub fn reason(self) -> &'static str {
        match self {
            ClientDenial::WrongSecret => "wrong client secret",
            ClientDenial::Revoked => "the client is revoked",
            ClientDenial::OwnerDisabled => "the client's owner is disabled",
        }
    }

    /// For the caller. Only someone who knows the secret learns more than `CLIENT_REFUSED`.
    pub fn told(self) -> &'static str {
        match self {
            ClientDenial::WrongSecret => CLIENT_REFUSED,
            other => other.reason(),
        }
    }

    /// Whether it counts as a guess, for the throttle.
    pub fn is_guess(self) -> bool {
        self == ClientDenial::WrongSecret
    }
}

/// Whether a client's credentials get a token: the right secret first (nothing else is told
/// to whoever lacks it), then a client not revoked, owned by someone not disabled.
pub fn may_use_client(secret_matches: bool, active: bool, owner_disabled: bool) -> Result<(), ClientDenial> {
    if !secret_matches {
        Err(ClientDenial::WrongSecret)
    } else if !active {
        Err(ClientDenial::Revoked)
    } else if owner_disabled {
        Err(ClientDenial::OwnerDisabled)
    } else {
        Ok(())
    }
}

/// Whether a subject token may be used once only. A token the client signed itself always is
/// (one leaked token must not impersonate for ever); an impersonation token Guise issued is
/// when the client's policy is strict (a compatible client may present it again, to chain).
pub fn subject_token_is_single_use(issued_by_us: bool, policy: SubjectPolicy) -> bool {
    !issued_by_us || policy == SubjectPolicy::Strict
}

pub const REFUSES_IMPERSONATION: &str = "this endpoint refuses impersonation tokens: managing API clients, grants and the audit log needs the client's own access token (client credentials)";

/// Administration through the API takes the client's own token, acting as its owner: never
/// an impersonation token, whoever its subject.
pub fn may_administer_with_token(is_impersonation: bool) -> Result<(), &'static str> {
    if is_impersonation {
        Err(REFUSES_IMPERSONATION)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_checked_before_anything_is_told() {
        assert_eq!(may_use_client(true, true, false), Ok(()));
        assert_eq!(may_use_client(false, false, true), Err(ClientDenial::WrongSecret));
        assert_eq!(ClientDenial::WrongSecret.told(), CLIENT_REFUSED);
        assert!(ClientDenial::WrongSecret.is_guess());
    }

    #[test]
    fn a_revoked_client_or_a_disabled_owner_is_refused_and_said_so() {
        assert_eq!(may_use_client(true, false, false), Err(ClientDenial::Revoked));
        assert_eq!(may_use_client(true, true, true), Err(ClientDenial::OwnerDisabled));
        assert_eq!(ClientDenial::Revoked.told(), "the client is revoked");
        assert!(!ClientDenial::OwnerDisabled.is_guess());
    }

    #[test]
    fn self_signed_subject_tokens_are_always_single_use() {
        for policy in [SubjectPolicy::Strict, SubjectPolicy::Compatible] {
            assert!(subject_token_is_single_use(false, policy));
        }
        assert!(subject_token_is_single_use(true, SubjectPolicy::Strict));
        assert!(!subject_token_is_single_use(true, SubjectPolicy::Compatible));
    }

    #[test]
    fn administration_refuses_impersonation_tokens() {
        assert_eq!(may_administer_with_token(false), Ok(()));
        assert_eq!(may_administer_with_token(true), Err(REFUSES_IMPERSONATION));
    }
}

//! Who may do what with projects, datasets, webapps and logins. Pure: no I/O, so every rule is
//! unit-tested for both outcomes and every caller asks the same functions.

use crate::backend::domain::User;

/// What an account holds on a project, directly or through a group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProjectGrants {
    pub can_read: bool,
    pub can_build: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PermissionDenial {
    Disabled,
    OtherTenant,
    ServiceAccount,
    NoReadPermission,
    NoBuildPermission,
    NotAdmin,
    NotClientOwner,
}

impl PermissionDenial {
    pub fn reason(self) -> &'static str {
        match self {
            PermissionDenial::Disabled => "the account is disabled",
            PermissionDenial::OtherTenant => "it belongs to another tenant",
            PermissionDenial::ServiceAccount => "service accounts cannot log in",
            PermissionDenial::NoReadPermission => "no read permission on the project",
            PermissionDenial::NoBuildPermission => "no build permission on the project",
            PermissionDenial::NotAdmin => "only administrators may do this",
            PermissionDenial::NotClientOwner => "only the client's owner may obtain its secret; revoke the client instead",
        }
    }
}

fn member_of(account: &User, tenant_id: i64) -> Result<(), PermissionDenial> {
    if account.disabled {
        Err(PermissionDenial::Disabled)
    } else if account.tenant_id != tenant_id {
        Err(PermissionDenial::OtherTenant)
    } else {
        Ok(())
    }
}

/// Interactive login: people only, and only while enabled.
pub fn may_log_in(account: &User) -> Result<(), PermissionDenial> {
    if account.disabled {
        Err(PermissionDenial::Disabled)
    } else if account.is_service_account() {
        Err(PermissionDenial::ServiceAccount)
    } else {
        Ok(())
    }
}

pub fn may_read(account: &User, project_tenant: i64, grants: ProjectGrants) -> Result<(), PermissionDenial> {
    member_of(account, project_tenant)?;
    if account.is_admin || grants.can_read || grants.can_build {
        Ok(())
    } else {
        Err(PermissionDenial::NoReadPermission)
    }
}

pub fn may_build(account: &User, project_tenant: i64, grants: ProjectGrants) -> Result<(), PermissionDenial> {
    member_of(account, project_tenant)?;
    if account.is_admin || grants.can_build {
        Ok(())
    } else {
        Err(PermissionDenial::NoBuildPermission)
    }
}

/// Changing a webapp's settings (such as "Run backend as") is for the tenant's admins.
pub fn may_edit_webapp(account: &User, project_tenant: i64) -> Result<(), PermissionDenial> {
    member_of(account, project_tenant)?;
    if account.is_admin {
        Ok(())
    } else {
        Err(PermissionDenial::NotAdmin)
    }
}

/// Administration (users, groups, grants, audit) is for the tenant's admins.
pub fn may_administer(account: &User, tenant_id: i64) -> Result<(), PermissionDenial> {
    may_edit_webapp(account, tenant_id)
}

/// The identity a webapp backend runs as: any enabled account of the webapp's tenant.
pub fn may_be_webapp_identity(candidate: &User, project_tenant: i64) -> Result<(), PermissionDenial> {
    member_of(candidate, project_tenant)
}

/// Only people who can log in own API clients: a client acts as its owner.
pub fn may_own_client(account: &User) -> Result<(), PermissionDenial> {
    may_log_in(account)
}

/// A client's secret goes to its owner only (at creation and on rotation): whoever holds it acts
/// as the owner, so an admin given another admin's secret could act as that admin.
pub fn may_obtain_client_secret(account: &User, owner_user_id: i64) -> Result<(), PermissionDenial> {
    if account.id == owner_user_id {
        Ok(())
    } else {
        Err(PermissionDenial::NotClientOwner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::domain::AccountType;

    fn account(tenant_id: i64) -> User {
        User {
            id: 7,
            tenant_id,
            email: "u@t.example".into(),
            display_name: "U".into(),
            password_hash: Some("x".into()),
            is_admin: false,
            account_type: AccountType::User,
            disabled: false,
        }
    }

    const NONE: ProjectGrants = ProjectGrants { can_read: false, can_build: false };
    const READ: ProjectGrants = ProjectGrants { can_read: true, can_build: false };
    const BUILD: ProjectGrants = ProjectGrants { can_read: true, can_build: true };

    #[test]
    fn build_needs_build_grant_or_admin() {
        assert_eq!(may_build(&account(1), 1, BUILD), Ok(()));
        assert_eq!(may_build(&account(1), 1, READ), Err(PermissionDenial::NoBuildPermission));
        assert_eq!(may_build(&account(1), 1, NONE), Err(PermissionDenial::NoBuildPermission));
        let admin = User { is_admin: true, ..account(1) };
        assert_eq!(may_build(&admin, 1, NONE), Ok(()));
    }

    #[test]
    fn nothing_crosses_tenants_or_works_when_disabled() {
        let admin = User { is_admin: true, ..account(1) };
        assert_eq!(may_build(&admin, 2, BUILD), Err(PermissionDenial::OtherTenant));
        assert_eq!(may_read(&account(1), 2, BUILD), Err(PermissionDenial::OtherTenant));
        assert_eq!(may_edit_webapp(&admin, 2), Err(PermissionDenial::OtherTenant));
        let disabled = User { disabled: true, ..account(1) };
        assert_eq!(may_build(&disabled, 1, BUILD), Err(PermissionDenial::Disabled));
        assert_eq!(may_read(&disabled, 1, BUILD), Err(PermissionDenial::Disabled));
        assert_eq!(may_be_webapp_identity(&disabled, 1), Err(PermissionDenial::Disabled));
    }

    #[test]
    fn read_needs_a_grant_or_admin() {
        assert_eq!(may_read(&account(1), 1, READ), Ok(()));
        assert_eq!(may_read(&account(1), 1, BUILD), Ok(()));
        assert_eq!(may_read(&account(1), 1, NONE), Err(PermissionDenial::NoReadPermission));
        let admin = User { is_admin: true, ..account(1) };
        assert_eq!(may_read(&admin, 1, NONE), Ok(()));
    }

    #[test]
    fn webapp_settings_are_for_admins() {
        assert_eq!(may_edit_webapp(&account(1), 1), Err(PermissionDenial::NotAdmin));
        let admin = User { is_admin: true, ..account(1) };
        assert_eq!(may_edit_webapp(&admin, 1), Ok(()));
        let service = User { account_type: AccountType::Service, ..account(1) };
        assert_eq!(may_be_webapp_identity(&service, 1), Ok(()));
        assert_eq!(may_be_webapp_identity(&service, 2), Err(PermissionDenial::OtherTenant));
    }

    #[test]
    fn administration_is_for_admins_of_the_tenant() {
        let admin = User { is_admin: true, ..account(1) };
        assert_eq!(may_administer(&admin, 1), Ok(()));
        assert_eq!(may_administer(&admin, 2), Err(PermissionDenial::OtherTenant));
        assert_eq!(may_administer(&account(1), 1), Err(PermissionDenial::NotAdmin));
    }

    #[test]
    fn only_enabled_people_log_in() {
        assert_eq!(may_log_in(&account(1)), Ok(()));
        let service = User { account_type: AccountType::Service, ..account(1) };
        assert_eq!(may_log_in(&service), Err(PermissionDenial::ServiceAccount));
        let disabled = User { disabled: true, ..account(1) };
        assert_eq!(may_log_in(&disabled), Err(PermissionDenial::Disabled));
    }

    #[test]
    fn only_people_who_can_log_in_own_clients() {
        assert_eq!(may_own_client(&account(1)), Ok(()));
        assert_eq!(may_own_client(&User { disabled: true, ..account(1) }), Err(PermissionDenial::Disabled));
    }

    #[test]
    fn only_the_owner_obtains_a_client_secret() {
        let owner = account(1);
        assert_eq!(may_obtain_client_secret(&owner, owner.id), Ok(()));
        let other_admin = User { id: owner.id + 1, is_admin: true, ..account(1) };
        assert_eq!(may_obtain_client_secret(&other_admin, owner.id), Err(PermissionDenial::NotClientOwner));
    }
}

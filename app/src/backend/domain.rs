//! The things the rules decide about, as plain data: the store reads them from its tables and
//! maps enums to and from their column words.

use crate::model::UserView;

/// Whether an account belongs to a person or to a program (a webapp's "Run backend as").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountType {
    /// A person, who may log in.
    User,
    /// A program's identity: it never logs in and is never impersonated.
    Service,
}

impl AccountType {
    pub fn as_db(self) -> &'static str {
        match self {
            AccountType::User => "user",
            AccountType::Service => "service",
        }
    }
}

impl TryFrom<String> for AccountType {
    type Error = String;

    fn try_from(word: String) -> Result<Self, String> {
        match word.as_str() {
            "user" => Ok(AccountType::User),
            "service" => Ok(AccountType::Service),
            _ => Err(format!("unknown account type {word:?}")),
        }
    }
}

/// A person or a program's service account, as the rules see them.
#[derive(Clone)]
pub struct User {
    pub id: i64,
    pub tenant_id: i64,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub account_type: AccountType,
    pub disabled: bool,
}

impl User {
    pub fn is_service_account(&self) -> bool {
        self.account_type == AccountType::Service
    }

    pub fn view(&self) -> UserView {
        UserView {
            id: self.id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
        }
    }
}

// Never print the password hash, not even in debug logs.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("email", &self.email)
            .field("is_admin", &self.is_admin)
            .field("account_type", &self.account_type)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

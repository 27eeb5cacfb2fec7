//! Plain kinds of things, as enums: the store maps them to and from their column words.

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

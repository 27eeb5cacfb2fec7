//! The rules of discussions: what a comment may be, and who sees the other person behind one
//! written while impersonating. Pure, unit-tested.

/// Characters a comment holds at most.
pub const MAX_COMMENT: usize = 2_000;

/// A comment's text as kept: trimmed, not empty, at most `MAX_COMMENT` characters.
pub fn check_comment(body: &str) -> Result<&str, String> {
    let body = body.trim();
    if body.is_empty() {
        return Err("a comment cannot be empty".into());
    }
    let length = body.chars().count();
    if length > MAX_COMMENT {
        return Err(format!("a comment holds at most {MAX_COMMENT} characters (this one has {length})"));
    }
    Ok(body)
}

/// Whether a viewer sees both people behind a comment written while impersonating (the
/// author the mode shows, and the other one): auditors do, that is the tenant's admins;
/// everyone else sees what the mode shows.
pub fn shows_other_person(viewer_is_admin: bool) -> bool {
    viewer_is_admin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_is_trimmed_and_bounded() {
        assert_eq!(check_comment("  Looks right.  "), Ok("Looks right."));
        assert!(check_comment("").is_err());
        assert!(check_comment(" \n\t ").is_err());
        assert!(check_comment(&"é".repeat(MAX_COMMENT)).is_ok(), "characters, not bytes");
        assert!(check_comment(&"x".repeat(MAX_COMMENT + 1)).unwrap_err().contains("2001"));
    }

    #[test]
    fn only_admins_see_the_other_person() {
        assert!(shows_other_person(true));
        assert!(!shows_other_person(false));
    }
}

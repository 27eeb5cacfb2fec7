//! The audit log's hash chain. Each row's hash covers its id, time, content and the previous
//! row's hash, so an edited, deleted or reordered row breaks the chain at a row that can be
//! named. Pure: the store writes and reads rows, this module computes and checks hashes.

use sha2::{Digest, Sha256};

/// The "previous hash" of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_db(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }

    pub fn from_db(word: &str) -> Option<Outcome> {
        [Outcome::Allowed, Outcome::Denied, Outcome::Failed].into_iter().find(|o| o.as_db() == word)
    }
}

/// What an audit row says: who acted, as whom, what, on what, how it went and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub tenant_id: i64,
    pub actor_user_id: i64,
    pub subject_user_id: Option<i64>,
    /// The impersonation the action happened in, if any.
    pub impersonation_id: Option<i64>,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    pub reason: String,
    pub via: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of a row: SHA-256 over the previous hash and every field, each length-prefixed so
/// no two different rows encode alike.
pub fn chain_hash(prev_hash: &str, id: i64, at: i64, e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    let subject = e.subject_user_id.map(|s| s.to_string()).unwrap_or_default();
    let impersonation = e.impersonation_id.map(|s| s.to_string()).unwrap_or_default();
    let fields: [&str; 12] = [
        prev_hash,
        &id.to_string(),
        &at.to_string(),
        &e.tenant_id.to_string(),
        &e.actor_user_id.to_string(),
        &subject,
        &impersonation,
        &e.action,
        &e.target,
        e.outcome.as_db(),
        &e.reason,
        &e.via,
    ];
    for field in fields {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first row whose check fails.
    pub row_id: i64,
    pub problem: &'static str,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit row {}: {}", self.row_id, self.problem)
    }
}

/// Checks rows given in id order; returns how many were checked, or the first broken row.
pub fn verify_chain<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Result<usize, ChainBreak> {
    let mut prev_hash = GENESIS.to_string();
    let mut prev_id = 0;
    let mut checked = 0;
    for r in records {
        if r.id != prev_id + 1 {
            return Err(ChainBreak { row_id: r.id, problem: "rows before it are missing or out of order" });
        }
        if r.prev_hash != prev_hash {
            return Err(ChainBreak { row_id: r.id, problem: "the row before it was changed or removed" });
        }
        if chain_hash(&r.prev_hash, r.id, r.at, &r.entry) != r.hash {
            return Err(ChainBreak { row_id: r.id, problem: "its content does not match its hash" });
        }
        prev_hash = r.hash.clone();
        prev_id = r.id;
        checked += 1;
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64) -> AuditEntry {
        AuditEntry {
            tenant_id: 1,
            actor_user_id: 1,
            subject_user_id: Some(n),
            impersonation_id: None,
            action: "impersonation.start".into(),
            target: format!("user {n}"),
            outcome: Outcome::Allowed,
            reason: format!("TICKET-{n}"),
            via: "UI".into(),
        }
    }

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|id| {
                let e = entry(id);
                let hash = chain_hash(&prev, id, 1000 + id, &e);
                let r = AuditRecord { id, at: 1000 + id, entry: e, prev_hash: prev.clone(), hash: hash.clone() };
                prev = hash;
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(&chain(5)), Ok(5));
        assert_eq!(verify_chain(&[]), Ok(0));
    }

    #[test]
    fn an_edited_row_is_named() {
        let mut rows = chain(5);
        rows[2].entry.reason = "nothing to see".into();
        assert_eq!(verify_chain(&rows).unwrap_err().row_id, 3);
        let mut rows = chain(5);
        rows[3].entry.outcome = Outcome::Denied;
        assert_eq!(verify_chain(&rows).unwrap_err(), ChainBreak { row_id: 4, problem: "its content does not match its hash" });
    }

    #[test]
    fn an_edited_row_with_a_recomputed_hash_breaks_the_next_row() {
        let mut rows = chain(5);
        rows[1].entry.actor_user_id = 9;
        rows[1].hash = chain_hash(&rows[1].prev_hash, 2, rows[1].at, &rows[1].entry);
        assert_eq!(verify_chain(&rows).unwrap_err().row_id, 3);
    }

    #[test]
    fn a_deleted_row_is_found() {
        let mut rows = chain(5);
        rows.remove(2);
        assert_eq!(verify_chain(&rows).unwrap_err().row_id, 4);
    }

    #[test]
    fn reordered_rows_are_found() {
        let mut rows = chain(5);
        rows.swap(1, 2);
        assert_eq!(verify_chain(&rows).unwrap_err().row_id, 3);
        // Swapping contents but keeping ids in place breaks too.
        let mut rows = chain(5);
        let (a, b) = (rows[1].entry.clone(), rows[2].entry.clone());
        rows[1].entry = b;
        rows[2].entry = a;
        assert_eq!(verify_chain(&rows).unwrap_err().row_id, 2);
    }

    #[test]
    fn fields_cannot_bleed_into_each_other() {
        let mut a = entry(1);
        let mut b = entry(1);
        a.target = "ab".into();
        a.reason = "c".into();
        b.target = "a".into();
        b.reason = "bc".into();
        assert_ne!(chain_hash(GENESIS, 1, 1, &a), chain_hash(GENESIS, 1, 1, &b));
    }
}

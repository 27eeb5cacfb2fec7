//! The audit log's hash chains, one per tenant. Each row's hash is an HMAC, keyed by a key
//! derived from the server key file, over the tenant's previous hash, its place in the chain,
//! its time and its content: an edited, deleted or reordered row breaks the chain at a row
//! that can be named, and someone who can write the database but has not the key file cannot
//! recompute the chain. Pure: the store writes and reads rows, this module computes and checks.
//!
//! Rows written before the chains were per tenant and keyed (`seq` is empty) form one global
//! chain of plain SHA-256; each tenant's keyed chain starts from that chain's last hash, so
//! editing those older rows breaks every tenant's chain too.

use hmac::{Hmac, Mac};
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

/// The tenant and actor id of what the server's operator does on the command line to every
/// tenant at once (the global switch): those rows form a chain of their own, which no tenant
/// sees and `server audit verify` checks with the others.
pub const OPERATOR: i64 = 0;

/// What was done. The words are what rows store and filters offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    Login,
    ImpersonationStart,
    ImpersonationStop,
    /// An impersonation reached its time limit.
    ImpersonationExpired,
    /// An impersonation ended by itself: a right lost, the actor gone, a client revoked.
    ImpersonationEnded,
    DatasetBuild,
    ApiToken,
    ApiTokenExchange,
    ApiRequest,
    ApiClientCreate,
    ApiClientRotate,
    ApiClientRevoke,
    UserCreate,
    /// The global impersonation switch turned on or off.
    ImpersonationSwitch,
    GrantAdd,
    GrantRemove,
    /// A grant switched to another mode.
    GrantMode,
    WebappSettings,
    /// An order placed in the shop while impersonating (or refused).
    OrderPlace,
    /// A comment written while impersonating (or refused).
    CommentAdd,
    /// A user's region or price group changed.
    UserAttributes,
    /// A dataset looked at as another user sees it (View as).
    DatasetViewAs,
    /// A code webapp registered or changed on the server's command line.
    WebappRegister,
    /// A code webapp disabled.
    WebappDisable,
    /// A request to a code webapp's backend by someone impersonating (or refused).
    WebappRequest,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Login => "login",
            AuditAction::ImpersonationStart => "impersonation.start",
            AuditAction::ImpersonationStop => "impersonation.stop",
            AuditAction::ImpersonationExpired => "impersonation.expired",
            AuditAction::ImpersonationEnded => "impersonation.ended",
            AuditAction::DatasetBuild => "dataset.build",
            AuditAction::ApiToken => "api.token",
            AuditAction::ApiTokenExchange => "api.token_exchange",
            AuditAction::ApiRequest => "api.request",
            AuditAction::ApiClientCreate => "api_client.create",
            AuditAction::ApiClientRotate => "api_client.rotate",
            AuditAction::ApiClientRevoke => "api_client.revoke",
            AuditAction::UserCreate => "user.create",
            AuditAction::ImpersonationSwitch => "impersonation.switch",
            AuditAction::GrantAdd => "grant.add",
            AuditAction::GrantRemove => "grant.remove",
            AuditAction::GrantMode => "grant.mode",
            AuditAction::WebappSettings => "webapp.settings",
            AuditAction::OrderPlace => "order.place",
            AuditAction::CommentAdd => "comment.add",
            AuditAction::UserAttributes => "user.attributes",
            AuditAction::DatasetViewAs => "dataset.view_as",
            AuditAction::WebappRegister => "webapp.register",
            AuditAction::WebappDisable => "webapp.disable",
            AuditAction::WebappRequest => "webapp.request",
        }
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
    /// An `AuditAction`'s word (kept as stored, so a row with any word can be checked).
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    pub reason: String,
    pub via: String,
}

impl AuditEntry {
    /// The entry of the same attempt, refused: `why`, then what the reason already said.
    pub fn denied(self, why: &str) -> AuditEntry {
        let reason = if self.reason.is_empty() { why.to_string() } else { format!("{why} ({})", self.reason) };
        AuditEntry { outcome: Outcome::Denied, reason, ..self }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    /// The row's place in its tenant's chain, from 1; empty for a row of the older global chain.
    pub seq: Option<i64>,
    pub at: i64,
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
}

/// The key of the audit chains. Never shown in logs.
#[derive(Clone)]
pub struct ChainKey([u8; 32]);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(..)")
    }
}

impl ChainKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        ChainKey(bytes)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds a row to a hash: the previous hash, the row's place (its `seq`, or its id in the
/// older chain), its time and every field, each length-prefixed so no two different rows
/// encode alike.
fn feed_row(prev_hash: &str, place: i64, at: i64, e: &AuditEntry, mut update: impl FnMut(&[u8])) {
    let optional = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let numbers = [place.to_string(), at.to_string(), e.tenant_id.to_string(), e.actor_user_id.to_string()];
    let optionals = [optional(e.subject_user_id), optional(e.impersonation_id)];
    let fields = std::iter::once(prev_hash)
        .chain(numbers.iter().map(String::as_str))
        .chain(optionals.iter().map(String::as_str))
        .chain([e.action.as_str(), &e.target, e.outcome.as_db(), &e.reason, &e.via]);
    for field in fields {
        update(&(field.len() as u64).to_be_bytes());
        update(field.as_bytes());
    }
}

/// The hash of a row of a tenant's chain: HMAC-SHA-256 over the row, placed by its `seq`.
pub fn chain_hash(key: &ChainKey, prev_hash: &str, seq: i64, at: i64, e: &AuditEntry) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes a key of any length");
    feed_row(prev_hash, seq, at, e, |bytes| mac.update(bytes));
    hex(&mac.finalize().into_bytes())
}

/// The hash of a row of the older global chain: plain SHA-256 over the row, placed by its id.
pub fn global_chain_hash(prev_hash: &str, id: i64, at: i64, e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    feed_row(prev_hash, id, at, e, |bytes| h.update(bytes));
    hex(&h.finalize())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// The first row whose check fails (none when it must not be named to this reader).
    pub row_id: Option<i64>,
    pub problem: &'static str,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.row_id {
            Some(id) => write!(f, "audit row {id}: {}", self.problem),
            None => f.write_str(self.problem),
        }
    }
}

/// Which chain a `ChainCheck` follows.
#[derive(Clone, Debug)]
pub enum Chain {
    /// The older global chain: rows in id order, ids from 1.
    Global,
    /// One tenant's keyed chain: its rows in `seq` order, starting from `anchor` (the global
    /// chain's last hash, or `GENESIS`).
    Tenant { key: ChainKey, anchor: String },
}

/// Checks the rows of one chain as they come, in order, keeping only the last hash.
#[derive(Debug)]
pub struct ChainCheck {
    chain: Chain,
    prev_hash: String,
    checked: i64,
}

impl ChainCheck {
    pub fn new(chain: Chain) -> Self {
        let prev_hash = match &chain {
            Chain::Global => GENESIS.to_string(),
            Chain::Tenant { anchor, .. } => anchor.clone(),
        };
        ChainCheck { chain, prev_hash, checked: 0 }
    }

    /// Checks the next row.
    pub fn check(&mut self, r: &AuditRecord) -> Result<(), ChainBreak> {
        let expected = self.checked + 1;
        let (place, hash) = match &self.chain {
            Chain::Global => (Some(r.id), global_chain_hash(&r.prev_hash, r.id, r.at, &r.entry)),
            Chain::Tenant { key, .. } => (r.seq, chain_hash(key, &r.prev_hash, r.seq.unwrap_or(0), r.at, &r.entry)),
        };
        let broken = |problem| Err(ChainBreak { row_id: Some(r.id), problem });
        if place != Some(expected) {
            return broken("rows before it are missing or out of order");
        }
        if r.prev_hash != self.prev_hash {
            return broken("the row before it was changed or removed");
        }
        if hash != r.hash {
            return broken("its content does not match its hash");
        }
        self.prev_hash = hash;
        self.checked = expected;
        Ok(())
    }

    pub fn checked(&self) -> usize {
        self.checked as usize
    }

    /// The last hash checked (the chain's start when none was).
    pub fn last_hash(&self) -> &str {
        &self.prev_hash
    }
}

/// Checks rows of one chain given in order; returns how many were checked, or the first
/// broken row.
pub fn verify_chain<'a>(chain: Chain, records: impl IntoIterator<Item = &'a AuditRecord>) -> Result<usize, ChainBreak> {
    let mut check = ChainCheck::new(chain);
    for r in records {
        check.check(r)?;
    }
    Ok(check.checked())
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

    fn key() -> ChainKey {
        ChainKey::new([7; 32])
    }

    fn tenant_chain() -> Chain {
        Chain::Tenant { key: key(), anchor: GENESIS.into() }
    }

    /// A tenant chain of `n` rows (ids 10, 20, …: other tenants' rows sit between them).
    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let e = entry(seq);
                let hash = chain_hash(&key(), &prev, seq, 1000 + seq, &e);
                let r = AuditRecord { id: 10 * seq, seq: Some(seq), at: 1000 + seq, entry: e, prev_hash: prev.clone(), hash: hash.clone() };
                prev = hash;
                r
            })
            .collect()
    }

    /// The older global chain of `n` rows.
    fn global_chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|id| {
                let e = entry(id);
                let hash = global_chain_hash(&prev, id, 1000 + id, &e);
                let r = AuditRecord { id, seq: None, at: 1000 + id, entry: e, prev_hash: prev.clone(), hash: hash.clone() };
                prev = hash;
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(tenant_chain(), &chain(5)), Ok(5));
        assert_eq!(verify_chain(tenant_chain(), &[]), Ok(0));
        assert_eq!(verify_chain(Chain::Global, &global_chain(5)), Ok(5));
    }

    #[test]
    fn an_edited_row_is_named() {
        let mut rows = chain(5);
        rows[2].entry.reason = "nothing to see".into();
        assert_eq!(verify_chain(tenant_chain(), &rows).unwrap_err().row_id, Some(30));
        let mut rows = chain(5);
        rows[3].entry.outcome = Outcome::Denied;
        assert_eq!(
            verify_chain(tenant_chain(), &rows).unwrap_err(),
            ChainBreak { row_id: Some(40), problem: "its content does not match its hash" }
        );
        let mut rows = global_chain(5);
        rows[3].entry.via = "API".into();
        assert_eq!(verify_chain(Chain::Global, &rows).unwrap_err().row_id, Some(4));
    }

    #[test]
    fn an_edited_row_with_a_recomputed_hash_breaks_the_next_row() {
        let mut rows = chain(5);
        rows[1].entry.actor_user_id = 9;
        rows[1].hash = chain_hash(&key(), &rows[1].prev_hash, 2, rows[1].at, &rows[1].entry);
        assert_eq!(verify_chain(tenant_chain(), &rows).unwrap_err().row_id, Some(30));
    }

    #[test]
    fn without_the_key_a_whole_chain_cannot_be_recomputed() {
        // Someone with the database but not the key file edits a row and recomputes every
        // hash after it with a key of their own.
        let mut rows = chain(3);
        rows[1].entry.reason = "nothing to see".into();
        let forger = ChainKey::new([8; 32]);
        let mut prev = rows[0].hash.clone();
        for r in rows.iter_mut().skip(1) {
            r.prev_hash = prev.clone();
            r.hash = chain_hash(&forger, &prev, r.seq.unwrap(), r.at, &r.entry);
            prev = r.hash.clone();
        }
        assert_eq!(verify_chain(tenant_chain(), &rows).unwrap_err().row_id, Some(20));
        // Nor can plain SHA-256 stand in for the keyed hash.
        let mut rows = chain(2);
        rows[1].hash = global_chain_hash(&rows[1].prev_hash, 2, rows[1].at, &rows[1].entry);
        assert_eq!(verify_chain(tenant_chain(), &rows).unwrap_err().row_id, Some(20));
    }

    #[test]
    fn a_tenant_chain_starts_from_the_global_chain_s_last_hash() {
        let global = global_chain(3);
        let anchor = global[2].hash.clone();
        let mut rows = chain(2);
        rows[0].prev_hash = anchor.clone();
        rows[0].hash = chain_hash(&key(), &anchor, 1, rows[0].at, &rows[0].entry);
        rows[1].prev_hash = rows[0].hash.clone();
        rows[1].hash = chain_hash(&key(), &rows[1].prev_hash, 2, rows[1].at, &rows[1].entry);
        let anchored = |anchor: &str| Chain::Tenant { key: key(), anchor: anchor.into() };
        assert_eq!(verify_chain(anchored(&anchor), &rows), Ok(2));
        // The global chain edited and recomputed: its last hash moves, the tenant chain breaks.
        let mut edited = global_chain(3);
        edited[0].entry.reason = "nothing to see".into();
        let mut prev = GENESIS.to_string();
        for r in edited.iter_mut() {
            r.prev_hash = prev.clone();
            r.hash = global_chain_hash(&prev, r.id, r.at, &r.entry);
            prev = r.hash.clone();
        }
        assert_eq!(verify_chain(Chain::Global, &edited), Ok(3));
        assert_eq!(verify_chain(anchored(&prev), &rows).unwrap_err().row_id, Some(10));
    }

    #[test]
    fn a_deleted_row_is_found() {
        let mut rows = chain(5);
        rows.remove(2);
        assert_eq!(verify_chain(tenant_chain(), &rows).unwrap_err().row_id, Some(40));
        let mut rows = global_chain(5);
        rows.remove(0);
        assert_eq!(verify_chain(Chain::Global, &rows).unwrap_err().row_id, Some(2));
    }

    #[test]
    fn reordered_rows_are_found() {
        let mut rows = chain(5);
        rows.swap(1, 2);
        assert_eq!(verify_chain(tenant_chain(), &rows).unwrap_err().row_id, Some(30));
        // Swapping contents but keeping places breaks too.
        let mut rows = chain(5);
        let (a, b) = (rows[1].entry.clone(), rows[2].entry.clone());
        rows[1].entry = b;
        rows[2].entry = a;
        assert_eq!(verify_chain(tenant_chain(), &rows).unwrap_err().row_id, Some(20));
    }

    #[test]
    fn a_row_moved_to_another_tenant_breaks() {
        let mut rows = chain(3);
        rows[1].entry.tenant_id = 2;
        assert_eq!(verify_chain(tenant_chain(), &rows).unwrap_err().row_id, Some(20));
    }

    #[test]
    fn the_older_chain_hashes_as_it_always_did() {
        // Computed by the hash the global chain was written with, before chains were keyed.
        let e = AuditEntry {
            tenant_id: 1,
            actor_user_id: 2,
            subject_user_id: Some(3),
            impersonation_id: None,
            action: "impersonation.start".into(),
            target: "user 3".into(),
            outcome: Outcome::Allowed,
            reason: "TICKET-1".into(),
            via: "UI".into(),
        };
        assert_eq!(global_chain_hash(GENESIS, 7, 1000, &e), "e05853138a83d96f6fe6a92ca15c490c048d25d29df437064bfbc474ee3fab46");
    }

    #[test]
    fn fields_cannot_bleed_into_each_other() {
        let mut a = entry(1);
        let mut b = entry(1);
        a.target = "ab".into();
        a.reason = "c".into();
        b.target = "a".into();
        b.reason = "bc".into();
        assert_ne!(chain_hash(&key(), GENESIS, 1, 1, &a), chain_hash(&key(), GENESIS, 1, 1, &b));
        assert_ne!(global_chain_hash(GENESIS, 1, 1, &a), global_chain_hash(GENESIS, 1, 1, &b));
    }
}

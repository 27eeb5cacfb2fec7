//! The throttles' counts in the database, so that they hold across servers and restarts.
//! Each server keeps them in memory (`throttle`) and writes every failure and every right
//! password through to the database. With the embedded database one server owns the file:
//! it reads the counts once, at start. On PostgreSQL other servers count too, so each check
//! first takes the database's counts. (Tries under way are counted per server: a burst sent
//! in parallel to several servers at once gets the free tries once per server, and every
//! failure after that waits on all of them.)

use super::state::AppState;
use super::store::{self, throttle_failures};
use super::throttle::{self, LoginAttempt, LoginThrottle, SharedKey};
use std::net::IpAddr;

fn pairs(counted: &[throttle_failures::Counted]) -> Vec<(u32, i64)> {
    counted.iter().map(|c| (c.failures, c.last_at)).collect()
}

fn stored(keys: &[SharedKey]) -> Vec<(&'static str, String, i64)> {
    keys.iter().map(|k| (k.scope, k.key.clone(), k.forget_after)).collect()
}

/// Takes the counts the database remembers: at start, with the embedded database.
pub async fn remember(state: &AppState) -> Result<(), sqlx::Error> {
    let now = store::now_ms() / 1000;
    let since = throttle::failures_counted();
    let longest = throttle::ONE_SOURCE.forget_after.max(throttle::ONE_ADDRESS.forget_after).max(throttle::ONE_ACCOUNT.forget_after);
    for (scope, key, c) in throttle_failures::recent(&state.db, now, longest.max(throttle::ONE_CLIENT_SOURCE.forget_after)).await? {
        let counted = (c.failures, c.last_at);
        if scope == throttle::SCOPE_CLIENT_FROM_ADDRESS {
            match throttle::parse_source(&key) {
                Some(source) => state.client_throttle.learn(source, Some(counted), since),
                None => tracing::warn!("throttle count with a malformed key {key:?} ignored"),
            }
        } else if !state.login_throttle.learn_row(&scope, &key, counted, since) {
            tracing::warn!("throttle count {scope:?} {key:?} ignored");
        }
    }
    for (account, address) in throttle_failures::known_addresses(&state.db).await? {
        match address.parse() {
            Ok(address) => state.login_throttle.learn_known_address(&account, address),
            Err(_) => tracing::warn!("known address {address:?} of {account:?} ignored"),
        }
    }
    Ok(())
}

/// Before a password check on PostgreSQL: what every server counted for that login.
pub async fn before_login(state: &AppState, email: &str, address: IpAddr) -> Result<(), sqlx::Error> {
    if !state.db.is_postgres() {
        return Ok(());
    }
    let since = throttle::failures_counted();
    let keys = LoginThrottle::shared_keys(email, address);
    let asked = keys.iter().map(|k| (k.scope, k.key.clone())).collect();
    let counted = throttle_failures::counted(&state.db, asked).await?;
    let account = keys[2].key.clone();
    let known = throttle_failures::is_known_address(&state.db, account, address.to_string()).await?;
    let mut counts = counted.into_iter().map(|c| c.map(|c| (c.failures, c.last_at)));
    let counts = [(); 3].map(|_| counts.next().flatten());
    state.login_throttle.learn(email, address, counts, known, since);
    Ok(())
}

/// A wrong password: counted in memory and in the database. Returns the wait it now imposes
/// on that account from that address (0 for none).
pub async fn login_failed(state: &AppState, attempt: &LoginAttempt<'_>, now: i64) -> Result<i64, sqlx::Error> {
    attempt.failed(now);
    let since = throttle::failures_counted();
    let counted = throttle_failures::fail(&state.writer, stored(&attempt.failed_keys()), now).await?;
    Ok(attempt.learn_failed(&pairs(&counted), now, since))
}

/// A right password: that account's count from that address starts over, and the address is
/// one it logs in from, on every server.
pub async fn login_succeeded(state: &AppState, attempt: &LoginAttempt<'_>) -> Result<(), sqlx::Error> {
    attempt.succeeded();
    let [pair, ..] = LoginThrottle::shared_keys(attempt.account(), attempt.address());
    let (account, address) = (attempt.account().to_string(), attempt.address().to_string());
    throttle_failures::succeeded(&state.writer, pair.scope, pair.key, account, address, throttle::KNOWN_ADDRESSES).await
}

/// The database key of an API client tried from an address.
fn client_key(source: &(String, IpAddr)) -> SharedKey {
    SharedKey {
        scope: throttle::SCOPE_CLIENT_FROM_ADDRESS,
        key: throttle::source_text(&source.0, source.1),
        forget_after: throttle::ONE_CLIENT_SOURCE.forget_after,
    }
}

/// Before a client secret is checked on PostgreSQL: what every server counted for that
/// client from that address.
pub async fn before_client(state: &AppState, source: &(String, IpAddr)) -> Result<(), sqlx::Error> {
    if !state.db.is_postgres() {
        return Ok(());
    }
    let key = client_key(source);
    let since = throttle::failures_counted();
    let counted = throttle_failures::counted(&state.db, vec![(key.scope, key.key)]).await?;
    let counted = counted.into_iter().next().flatten().map(|c| (c.failures, c.last_at));
    state.client_throttle.learn(source.clone(), counted, since);
    Ok(())
}

/// A wrong client secret (or an unknown client): counted in memory and in the database.
/// Returns the wait it now imposes (0 for none).
pub async fn client_failed(state: &AppState, source: (String, IpAddr), now: i64) -> Result<i64, sqlx::Error> {
    let key = client_key(&source);
    state.client_throttle.fail(source.clone(), now);
    let since = throttle::failures_counted();
    let counted = throttle_failures::fail(&state.writer, stored(&[key]), now).await?;
    if let Some(c) = counted.first() {
        state.client_throttle.learn(source.clone(), Some((c.failures, c.last_at)), since);
    }
    Ok(state.client_throttle.wait(&source, now).unwrap_or(0))
}

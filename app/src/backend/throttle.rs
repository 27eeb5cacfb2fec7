//! Throttles against guessing: failures are counted per key (an account and an address, a
//! client and an address …), and past a free allowance each failure doubles the wait before
//! the next try. A wait is enforced before the secret is even checked, so guessing gets no
//! faster by ignoring it. Failures are forgotten after a quiet spell. Times are in seconds,
//! passed in by the caller, so the rules are tested without a clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The address a request came from, as the server found it (behind a trusted proxy, the
/// address the proxy names); unspecified when unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl Default for ClientAddress {
    fn default() -> Self {
        ClientAddress(IpAddr::from([0, 0, 0, 0]))
    }
}

/// How fast one key is slowed down.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Failures allowed before any wait.
    pub free: u32,
    /// The first wait, in seconds; it doubles with each failure after.
    pub first_wait: i64,
    /// The longest wait.
    pub max_wait: i64,
    /// Failures are forgotten this long after the last one.
    pub forget_after: i64,
}

impl Policy {
    /// Seconds to wait after the last of `failures` failures.
    pub fn wait_after(&self, failures: u32) -> i64 {
        if failures < self.free {
            return 0;
        }
        let doublings = (failures - self.free).min(30);
        self.first_wait.saturating_mul(1 << doublings).min(self.max_wait)
    }
}

/// One account (or client) from one address: a handful of tries, then a growing wait.
pub const ONE_SOURCE: Policy = Policy { free: 5, first_wait: 4, max_wait: 15 * 60, forget_after: 60 * 60 };
/// One address against any account: many people may share it (an office, a proxy).
pub const ONE_ADDRESS: Policy = Policy { free: 50, first_wait: 4, max_wait: 15 * 60, forget_after: 60 * 60 };
/// One account from addresses it was never used from: guessing spread over many addresses.
pub const ONE_ACCOUNT: Policy = Policy { free: 100, first_wait: 4, max_wait: 15 * 60, forget_after: 60 * 60 };

/// One API client from one address: scripts retry, so a few more tries.
pub const ONE_CLIENT_SOURCE: Policy = Policy { free: 10, first_wait: 4, max_wait: 15 * 60, forget_after: 60 * 60 };

/// The throttles' names in the database (`store::throttle_failures`).
pub const SCOPE_ACCOUNT_FROM_ADDRESS: &str = "login account from address";
pub const SCOPE_ADDRESS: &str = "login address";
pub const SCOPE_ACCOUNT: &str = "login account";
pub const SCOPE_CLIENT_FROM_ADDRESS: &str = "client from address";

/// A key as the database stores it, under its throttle's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedKey {
    pub scope: &'static str,
    pub key: String,
    /// Its throttle's `Policy::forget_after`.
    pub forget_after: i64,
}

/// An account or client from an address, as the database stores it: the address first (it
/// has no spaces), then the name.
pub fn source_text(name: &str, address: IpAddr) -> String {
    format!("{address} {name}")
}

/// The account or client and the address of a `source_text`.
pub fn parse_source(text: &str) -> Option<(String, IpAddr)> {
    let (address, name) = text.split_once(' ')?;
    Some((name.to_string(), address.parse().ok()?))
}

/// Keys kept before the forgotten ones are dropped.
const MAX_KEYS: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: i64,
    /// Tries begun and not ended yet.
    checking: u32,
    /// `failures_counted()` just after this server last counted a failure of the key.
    counted_at: u64,
}

/// Failures this server has counted, every throttle together: a count the database held is
/// learnt with the number counted before it was read, so a failure counted here meanwhile
/// (maybe not in the database's count yet) is never forgotten by it.
static FAILURES_COUNTED: AtomicU64 = AtomicU64::new(0);

/// How many failures this server has counted so far (see `Throttle::learn`).
pub fn failures_counted() -> u64 {
    FAILURES_COUNTED.load(Ordering::SeqCst)
}

/// Why a try may not be made now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotNow {
    /// Earlier failures impose this many more seconds.
    Wait(i64),
    /// Tries under way could use up what is allowed: wait for their outcome.
    Busy,
}

/// Failure counts per key under one policy.
#[derive(Debug)]
pub struct Throttle<K> {
    policy: Policy,
    failures: Mutex<HashMap<K, Failures>>,
}

impl<K: Hash + Eq> Throttle<K> {
    pub fn new(policy: Policy) -> Self {
        Throttle { policy, failures: Mutex::new(HashMap::new()) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<K, Failures>) -> T) -> T {
        let mut map = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut map)
    }

    /// The failures still remembered at `now`.
    fn count(&self, f: &Failures, now: i64) -> u32 {
        if now < f.last + self.policy.forget_after { f.count } else { 0 }
    }

    fn wait_in(&self, f: &Failures, now: i64) -> Option<i64> {
        let until = f.last + self.policy.wait_after(self.count(f, now));
        (until > now).then_some(until - now)
    }

    /// Seconds `key` must still wait at `now`, if any.
    pub fn wait(&self, key: &K, now: i64) -> Option<i64> {
        self.with(|m| self.wait_in(m.get(key)?, now))
    }

    /// Begins a try of `key` whose outcome is told later (`fail`, then `end`). Refused while
    /// a wait is on, and while the tries under way could, if they all failed, use up the free
    /// ones: requests sent in parallel cannot all pass before their failures are counted.
    /// Past the free tries, one at a time.
    pub fn begin(&self, key: K, now: i64) -> Result<(), NotNow> {
        self.with(|m| {
            self.make_room(m, now);
            let f = m.entry(key).or_insert(Failures { count: 0, last: now, checking: 0, counted_at: 0 });
            if let Some(wait) = self.wait_in(f, now) {
                return Err(NotNow::Wait(wait));
            }
            if f.checking > 0 && self.count(f, now) + f.checking >= self.policy.free {
                return Err(NotNow::Busy);
            }
            f.checking += 1;
            Ok(())
        })
    }

    /// Ends a try begun with `begin`.
    pub fn end(&self, key: &K, now: i64) {
        self.with(|m| {
            if let Some(f) = m.get_mut(key) {
                f.checking = f.checking.saturating_sub(1);
                if f.checking == 0 && self.count(f, now) == 0 {
                    m.remove(key);
                }
            }
        })
    }

    /// Counts a failure of `key` at `now`; returns the wait it now imposes (0 for none).
    pub fn fail(&self, key: K, now: i64) -> i64 {
        self.with(|m| {
            self.make_room(m, now);
            let f = m.entry(key).or_insert(Failures { count: 0, last: now, checking: 0, counted_at: 0 });
            f.count = self.count(f, now) + 1;
            f.last = now;
            f.counted_at = FAILURES_COUNTED.fetch_add(1, Ordering::SeqCst) + 1;
            self.policy.wait_after(f.count)
        })
    }

    /// Forgets the failures of `key` (its tries under way stay counted).
    pub fn clear(&self, key: &K) {
        self.with(|m| {
            if let Some(f) = m.get_mut(key) {
                f.count = 0;
                if f.checking == 0 {
                    m.remove(key);
                }
            }
        })
    }

    /// Takes the count the database held for `key` (`None`: no failures), kept by every
    /// server on it, read when this server had counted `since` failures (`failures_counted`):
    /// it replaces this server's own, whose tries under way stay counted, unless a failure of
    /// the key was counted here since, which the database's count may lack: then the larger
    /// count stays.
    pub fn learn(&self, key: K, counted: Option<(u32, i64)>, since: u64)
    where
        K: Clone,
    {
        self.with(|m| {
            let f = m.entry(key.clone()).or_insert(Failures { count: 0, last: 0, checking: 0, counted_at: 0 });
            let (count, last) = counted.unwrap_or((0, f.last));
            (f.count, f.last) = if f.counted_at > since { (f.count.max(count), f.last.max(last)) } else { (count, last) };
            if f.count == 0 && f.checking == 0 {
                m.remove(&key);
            }
        })
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// When the table is full, drops the keys that slow nobody down.
    fn make_room(&self, m: &mut HashMap<K, Failures>, now: i64) {
        if m.len() >= MAX_KEYS {
            m.retain(|_, f| f.checking > 0 || self.count(f, now) >= self.policy.free);
        }
    }
}

/// Most addresses remembered per account.
pub const KNOWN_ADDRESSES: usize = 8;

/// Adds an address to an account's known ones, dropping the oldest past the most kept.
fn remember(addresses: &mut Vec<IpAddr>, address: IpAddr) {
    if addresses.len() >= KNOWN_ADDRESSES {
        addresses.remove(0);
    }
    addresses.push(address);
}

/// Password logins, throttled three ways: an account from one address, an address against any
/// account, and an account from addresses it was never used from. The last spares addresses
/// the account logged in from, so guessing spread over many addresses cannot lock its real
/// user out from everywhere.
#[derive(Debug)]
pub struct LoginThrottle {
    account_from_address: Throttle<(String, IpAddr)>,
    address: Throttle<IpAddr>,
    account: Throttle<String>,
    known: Mutex<HashMap<String, Vec<IpAddr>>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            account_from_address: Throttle::new(ONE_SOURCE),
            address: Throttle::new(ONE_ADDRESS),
            account: Throttle::new(ONE_ACCOUNT),
            known: Mutex::new(HashMap::new()),
        }
    }
}

/// The account a login names: its email as the store matches it (trimmed, any case).
fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A password check under way; it ends when dropped, also when the request is dropped
/// midway. Its outcome is told with `failed` or `succeeded`.
#[derive(Debug)]
pub struct LoginAttempt<'a> {
    throttle: &'a LoginThrottle,
    account: String,
    address: IpAddr,
    /// Whether the account-wide count applies (an address the account was never used from).
    new_address: bool,
    began: i64,
}

impl LoginAttempt<'_> {
    /// The keys `failed` counts, as the database stores them.
    pub fn failed_keys(&self) -> Vec<SharedKey> {
        let mut keys = LoginThrottle::shared_keys(&self.account, self.address).to_vec();
        if !self.new_address {
            keys.pop();
        }
        keys
    }

    /// Takes the database's counts of `failed_keys` (in that order) after a wrong password;
    /// returns the wait they impose on that account from that address at `now` (0 for none).
    /// `since` is `failures_counted()` just after `failed`: the counts include that failure.
    pub fn learn_failed(&self, counts: &[(u32, i64)], now: i64, since: u64) -> i64 {
        let t = self.throttle;
        let pair = (self.account.clone(), self.address);
        if let [pair_count, address_count, rest @ ..] = counts {
            t.account_from_address.learn(pair.clone(), Some(*pair_count), since);
            t.address.learn(self.address, Some(*address_count), since);
            if let (true, [account_count]) = (self.new_address, rest) {
                t.account.learn(self.account.clone(), Some(*account_count), since);
            }
        }
        t.account_from_address.wait(&pair, now).unwrap_or(0)
    }

    /// The account, as the throttles name it.
    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// Counts a wrong password; returns the wait it now imposes on that account from that
    /// address (0 for none).
    pub fn failed(&self, now: i64) -> i64 {
        let t = self.throttle;
        t.address.fail(self.address, now);
        if self.new_address {
            t.account.fail(self.account.clone(), now);
        }
        t.account_from_address.fail((self.account.clone(), self.address), now)
    }

    /// A right password: that account's count from that address starts over, and the address
    /// is one it is used from. (The address's own count does not: one account of one's own
    /// must not reset guessing at others.)
    pub fn succeeded(&self) {
        let t = self.throttle;
        t.account_from_address.clear(&(self.account.clone(), self.address));
        let mut known = t.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let addresses = known.entry(self.account.clone()).or_default();
        if !addresses.contains(&self.address) {
            remember(addresses, self.address);
        }
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        let (t, now) = (self.throttle, self.began);
        t.account_from_address.end(&(self.account.clone(), self.address), now);
        t.address.end(&self.address, now);
        if self.new_address {
            t.account.end(&self.account, now);
        }
    }
}

impl LoginThrottle {
    /// The database's keys of a login for `email` from `address`: the account from that
    /// address, the address, and the account.
    pub fn shared_keys(email: &str, address: IpAddr) -> [SharedKey; 3] {
        let account = account_key(email);
        [
            SharedKey { scope: SCOPE_ACCOUNT_FROM_ADDRESS, key: source_text(&account, address), forget_after: ONE_SOURCE.forget_after },
            SharedKey { scope: SCOPE_ADDRESS, key: address.to_string(), forget_after: ONE_ADDRESS.forget_after },
            SharedKey { scope: SCOPE_ACCOUNT, key: account, forget_after: ONE_ACCOUNT.forget_after },
        ]
    }

    /// Takes what the database holds on a login for `email` from `address`: the counts of
    /// its `shared_keys`, in that order, and whether the account logged in from there before.
    /// `since` is `failures_counted()` before the counts were read.
    pub fn learn(&self, email: &str, address: IpAddr, counts: [Option<(u32, i64)>; 3], known: bool, since: u64) {
        let account = account_key(email);
        let [pair_count, address_count, account_count] = counts;
        self.account_from_address.learn((account.clone(), address), pair_count, since);
        self.address.learn(address, address_count, since);
        self.account.learn(account.clone(), account_count, since);
        let mut known_addresses = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let addresses = known_addresses.entry(account.clone()).or_default();
        match (known, addresses.iter().position(|a| *a == address)) {
            (true, None) => remember(addresses, address),
            (false, Some(at)) => drop(addresses.remove(at)),
            _ => {}
        }
        if addresses.is_empty() {
            known_addresses.remove(&account);
        }
    }

    /// Takes one count the database holds (a server starting up); false for a scope or key
    /// that is not a login throttle's.
    pub fn learn_row(&self, scope: &str, key: &str, counted: (u32, i64), since: u64) -> bool {
        match scope {
            SCOPE_ACCOUNT_FROM_ADDRESS => match parse_source(key) {
                Some(pair) => self.account_from_address.learn(pair, Some(counted), since),
                None => return false,
            },
            SCOPE_ADDRESS => match key.parse() {
                Ok(address) => self.address.learn(address, Some(counted), since),
                Err(_) => return false,
            },
            SCOPE_ACCOUNT => self.account.learn(key.to_string(), Some(counted), since),
            _ => return false,
        }
        true
    }

    /// Takes an address `account` logged in from (a server starting up; oldest first).
    pub fn learn_known_address(&self, account: &str, address: IpAddr) {
        let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let addresses = known.entry(account.to_string()).or_default();
        if !addresses.contains(&address) {
            remember(addresses, address);
        }
    }

    fn is_known(&self, account: &str, address: IpAddr) -> bool {
        let known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        known.get(account).is_some_and(|addresses| addresses.contains(&address))
    }

    /// Begins checking a password for `email` from `address`, unless a wait is on or tries
    /// under way could use up what is allowed (see `Throttle::begin`) for the account from
    /// that address, the address, or (from an address it was never used from) the account.
    pub fn begin(&self, email: &str, address: IpAddr, now: i64) -> Result<LoginAttempt<'_>, NotNow> {
        let account = account_key(email);
        let new_address = !self.is_known(&account, address);
        let pair = (account.clone(), address);
        self.account_from_address.begin(pair.clone(), now)?;
        if let Err(not_now) = self.address.begin(address, now) {
            self.account_from_address.end(&pair, now);
            return Err(not_now);
        }
        if new_address {
            if let Err(not_now) = self.account.begin(account.clone(), now) {
                self.account_from_address.end(&pair, now);
                self.address.end(&address, now);
                return Err(not_now);
            }
        }
        Ok(LoginAttempt { throttle: self, account, address, new_address, began: now })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn the_wait_starts_after_the_free_tries_and_doubles_up_to_the_limit() {
        let p = ONE_SOURCE;
        assert_eq!((0..5).map(|n| p.wait_after(n)).collect::<Vec<_>>(), [0, 0, 0, 0, 0]);
        assert_eq!((5..9).map(|n| p.wait_after(n)).collect::<Vec<_>>(), [4, 8, 16, 32]);
        assert_eq!(p.wait_after(20), 15 * 60);
        assert_eq!(p.wait_after(u32::MAX), 15 * 60);
    }

    #[test]
    fn a_key_waits_from_its_last_failure_and_is_forgotten_after_a_quiet_spell() {
        let t = Throttle::new(ONE_SOURCE);
        for now in 0..4 {
            assert_eq!(t.fail("k", now), 0);
            assert_eq!(t.wait(&"k", now), None);
        }
        assert_eq!(t.fail("k", 10), 4);
        assert_eq!(t.wait(&"k", 10), Some(4));
        assert_eq!(t.wait(&"k", 13), Some(1));
        assert_eq!(t.wait(&"k", 14), None);
        assert_eq!(t.wait(&"other", 10), None, "other keys are not slowed");
        assert_eq!(t.fail("k", 14), 8);
        assert_eq!(t.wait(&"k", 14 + 60 * 60), None);
        assert_eq!(t.fail("k", 14 + 60 * 60), 0, "counting starts over");
        t.clear(&"k");
        assert_eq!(t.wait(&"k", 14 + 60 * 60), None);
    }

    /// A wrong password for `email` from `address` at `now`; the wait it imposes.
    fn fail(t: &LoginThrottle, email: &str, address: IpAddr, now: i64) -> i64 {
        t.begin(email, address, now).expect("may try").failed(now)
    }

    fn wait(t: &LoginThrottle, email: &str, address: IpAddr, now: i64) -> Option<i64> {
        match t.begin(email, address, now) {
            Err(NotNow::Wait(seconds)) => Some(seconds),
            _ => None,
        }
    }

    #[test]
    fn guessing_one_account_from_one_address_waits_but_other_addresses_do_not() {
        let t = LoginThrottle::default();
        for _ in 0..4 {
            assert_eq!(fail(&t, "Carol@tshirts.example", ip(1), 100), 0);
        }
        assert_eq!(fail(&t, " carol@tshirts.example", ip(1), 100), 4);
        assert_eq!(wait(&t, "CAROL@tshirts.example", ip(1), 101), Some(3), "any spelling of the email");
        assert_eq!(wait(&t, "carol@tshirts.example", ip(2), 101), None, "Carol herself, elsewhere, is not locked out");
        assert_eq!(wait(&t, "dave@tshirts.example", ip(1), 101), None, "other accounts from that address are not");
    }

    #[test]
    fn a_right_password_starts_the_count_over_for_that_address_only() {
        let t = LoginThrottle::default();
        for _ in 0..5 {
            fail(&t, "carol@tshirts.example", ip(1), 100);
        }
        t.begin("carol@tshirts.example", ip(1), 104).expect("after the wait").succeeded();
        assert_eq!(wait(&t, "carol@tshirts.example", ip(1), 104), None);
        for _ in 0..4 {
            assert_eq!(fail(&t, "carol@tshirts.example", ip(1), 104), 0);
        }
    }

    #[test]
    fn one_address_guessing_many_accounts_waits() {
        let t = LoginThrottle::default();
        for n in 0..49 {
            assert_eq!(fail(&t, &format!("user{n}@tshirts.example"), ip(1), 100), 0);
        }
        fail(&t, "user49@tshirts.example", ip(1), 100);
        assert_eq!(wait(&t, "anyone@tshirts.example", ip(1), 100), Some(4));
        assert_eq!(wait(&t, "anyone@tshirts.example", ip(2), 100), None);
    }

    #[test]
    fn guessing_spread_over_many_addresses_spares_the_addresses_the_user_logs_in_from() {
        let t = LoginThrottle::default();
        t.begin("carol@tshirts.example", ip(7), 100).unwrap().succeeded();
        for n in 0..100u8 {
            fail(&t, "carol@tshirts.example", IpAddr::from([198, 51, 100, n]), 100);
        }
        assert_eq!(wait(&t, "carol@tshirts.example", ip(200), 100), Some(4), "a new address waits");
        assert_eq!(wait(&t, "carol@tshirts.example", ip(7), 100), None, "Carol's own address does not");
    }

    #[test]
    fn tries_under_way_count_until_their_outcome_is_known() {
        let t = LoginThrottle::default();
        // Five checks of one account at once use up its free tries: a sixth waits for them.
        let five: Vec<_> = (0..5).map(|_| t.begin("carol@tshirts.example", ip(1), 100).unwrap()).collect();
        assert_eq!(t.begin("carol@tshirts.example", ip(1), 100).unwrap_err(), NotNow::Busy);
        assert!(t.begin("carol@tshirts.example", ip(2), 100).is_ok(), "from elsewhere, no");
        // They all fail: the wait is on. Once it is over, one try at a time.
        for attempt in &five {
            attempt.failed(100);
        }
        drop(five);
        assert_eq!(t.begin("carol@tshirts.example", ip(1), 100).unwrap_err(), NotNow::Wait(4));
        let next = t.begin("carol@tshirts.example", ip(1), 104).unwrap();
        assert_eq!(t.begin("carol@tshirts.example", ip(1), 104).unwrap_err(), NotNow::Busy);
        drop(next);
        // Right passwords for many accounts of one address at once are not held up.
        let many: Vec<_> = (0..20).map(|n| t.begin(&format!("user{n}@tshirts.example"), ip(3), 100).unwrap()).collect();
        for attempt in &many {
            attempt.succeeded();
        }
    }

    #[test]
    fn a_dropped_check_frees_its_place() {
        let t = Throttle::new(ONE_SOURCE);
        for _ in 0..5 {
            t.begin("k", 100).unwrap();
        }
        assert_eq!(t.begin("k", 100), Err(NotNow::Busy));
        t.end(&"k", 100);
        assert_eq!(t.begin("k", 100), Ok(()));
        for _ in 0..5 {
            t.end(&"k", 100);
        }
        assert_eq!(t.with(|m| m.len()), 0, "nothing left of a key with no failures");
    }

    #[test]
    fn a_full_table_drops_forgotten_and_harmless_keys_first() {
        let t = Throttle::new(ONE_SOURCE);
        for _ in 0..5 {
            t.fail(0u32, 10);
        }
        for key in 1..MAX_KEYS as u32 {
            t.fail(key, 10);
        }
        t.fail(u32::MAX, 11);
        assert_eq!(t.with(|m| m.len()), 2, "one failure each: dropped");
        assert_eq!(t.wait(&0, 11), Some(3), "the guessing key is kept");
    }

    #[test]
    fn counts_from_the_database_replace_the_servers_own() {
        let t = Throttle::new(ONE_SOURCE);
        t.learn("k", Some((6, 100)), failures_counted());
        assert_eq!(t.wait(&"k", 100), Some(8), "another server's failures slow this one down");
        t.learn("k", None, failures_counted());
        assert_eq!(t.wait(&"k", 100), None, "another server's right password starts the count over");
        for _ in 0..5 {
            t.fail("k", 200);
        }
        t.learn("k", Some((1, 150)), failures_counted());
        assert_eq!(t.wait(&"k", 200), None, "the database's count is the one that holds");
    }

    #[test]
    fn a_count_read_before_a_failure_here_does_not_forget_it() {
        let t = Throttle::new(ONE_SOURCE);
        for _ in 0..4 {
            t.fail("k", 200);
        }
        let read_at = failures_counted();
        t.fail("k", 200); // counted here while the database's count was being read
        t.learn("k", Some((4, 200)), read_at);
        assert_eq!(t.wait(&"k", 200), Some(4), "the fifth failure still counts");
        t.learn("k", Some((5, 200)), failures_counted());
        assert_eq!(t.wait(&"k", 200), Some(4));
        t.learn("k", None, failures_counted());
        assert_eq!(t.wait(&"k", 200), None, "a count read after every failure here replaces it");
    }

    #[test]
    fn a_count_learned_while_tries_are_under_way_keeps_them_counted() {
        let t = Throttle::new(ONE_SOURCE);
        for _ in 0..4 {
            t.begin("k", 100).expect("free tries");
        }
        t.learn("k", None, failures_counted());
        assert_eq!(t.begin("k", 100), Ok(()), "four under way, none failed: a fifth may start");
        assert_eq!(t.begin("k", 100), Err(NotNow::Busy), "five under way could use up the free tries");
    }

    #[test]
    fn login_counts_and_known_addresses_from_the_database_hold_on_this_server() {
        let t = LoginThrottle::default();
        t.learn("Carol@tshirts.example", ip(1), [Some((5, 100)), None, Some((5, 100))], false, failures_counted());
        assert_eq!(wait(&t, "carol@tshirts.example", ip(1), 101), Some(3));
        t.learn("carol@tshirts.example", ip(1), [None, None, None], true, failures_counted());
        let attempt = t.begin("carol@tshirts.example", ip(1), 101).expect("counts gone");
        assert_eq!(attempt.failed_keys().len(), 2, "a known address leaves the account-wide count alone");
        drop(attempt);
        t.learn("carol@tshirts.example", ip(1), [None, None, None], false, failures_counted());
        let attempt = t.begin("carol@tshirts.example", ip(1), 101).expect("may try");
        let keys = attempt.failed_keys();
        assert_eq!(keys.iter().map(|k| k.scope).collect::<Vec<_>>(), [SCOPE_ACCOUNT_FROM_ADDRESS, SCOPE_ADDRESS, SCOPE_ACCOUNT]);
        assert_eq!(keys[0].key, "192.0.2.1 carol@tshirts.example");
        assert_eq!(attempt.learn_failed(&[(7, 101), (7, 101), (7, 101)], 101, failures_counted()), 16, "the wait follows the database's count");
    }

    #[test]
    fn rows_read_at_start_are_taken_only_when_they_name_a_login_throttle() {
        let t = LoginThrottle::default();
        assert!(t.learn_row(SCOPE_ACCOUNT_FROM_ADDRESS, "192.0.2.1 carol@tshirts.example", (5, 100), failures_counted()));
        assert_eq!(wait(&t, "carol@tshirts.example", ip(1), 100), Some(4));
        assert!(t.learn_row(SCOPE_ADDRESS, "2001:db8::1", (1, 100), failures_counted()));
        assert!(!t.learn_row(SCOPE_ADDRESS, "not an address", (1, 100), failures_counted()));
        assert!(!t.learn_row(SCOPE_ACCOUNT_FROM_ADDRESS, "carol@tshirts.example", (1, 100), failures_counted()));
        assert!(!t.learn_row(SCOPE_CLIENT_FROM_ADDRESS, "192.0.2.1 demo", (1, 100), failures_counted()));
        t.learn_known_address("carol@tshirts.example", ip(2));
        let attempt = t.begin("carol@tshirts.example", ip(2), 100).expect("may try");
        assert_eq!(attempt.failed_keys().len(), 2, "a known address");
    }

    #[test]
    fn sources_are_stored_as_text_and_read_back() {
        for (name, address) in [("carol@tshirts.example", ip(1)), ("a b", "2001:db8::1".parse().unwrap())] {
            assert_eq!(parse_source(&source_text(name, address)), Some((name.to_string(), address)));
        }
        assert_eq!(parse_source("nospace"), None);
        assert_eq!(parse_source("300.1.1.1 x"), None);
    }
}

//! Throttles against guessing: failures are counted per key (an account and an address, a
//! client and an address …), and past a free allowance each failure doubles the wait before
//! the next try. A wait is enforced before the secret is even checked, so guessing gets no
//! faster by ignoring it. Failures are forgotten after a quiet spell. Times are in seconds,
//! passed in by the caller, so the rules are tested without a clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
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

/// Keys kept before the forgotten ones are dropped.
const MAX_KEYS: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: i64,
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

    fn current(&self, f: Option<&Failures>, now: i64) -> Option<Failures> {
        f.copied().filter(|f| now < f.last + self.policy.forget_after)
    }

    /// Seconds `key` must still wait at `now`, if any.
    pub fn wait(&self, key: &K, now: i64) -> Option<i64> {
        self.with(|m| {
            let f = self.current(m.get(key), now)?;
            let until = f.last + self.policy.wait_after(f.count);
            (until > now).then_some(until - now)
        })
    }

    /// Counts a failure of `key` at `now`; returns the wait it now imposes (0 for none).
    pub fn fail(&self, key: K, now: i64) -> i64 {
        self.with(|m| {
            if m.len() >= MAX_KEYS {
                let policy = self.policy;
                m.retain(|_, f| now < f.last + policy.forget_after && f.count >= policy.free);
            }
            let count = self.current(m.get(&key), now).map_or(0, |f| f.count) + 1;
            m.insert(key, Failures { count, last: now });
            self.policy.wait_after(count)
        })
    }

    pub fn clear(&self, key: &K) {
        self.with(|m| m.remove(key));
    }
}

/// Most addresses remembered per account.
const KNOWN_ADDRESSES: usize = 8;
/// Most passwords checked at once for one address. With the one-at-a-time rule per account
/// and address, this keeps requests sent in parallel from all passing the check before any
/// of their failures is counted.
const MAX_CHECKS_PER_ADDRESS: u32 = 4;

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
    checking: Mutex<InFlight>,
}

/// Passwords being checked now: per account and address, and per address.
#[derive(Debug, Default)]
struct InFlight {
    pairs: std::collections::HashSet<(String, IpAddr)>,
    per_address: HashMap<IpAddr, u32>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            account_from_address: Throttle::new(ONE_SOURCE),
            address: Throttle::new(ONE_ADDRESS),
            account: Throttle::new(ONE_ACCOUNT),
            known: Mutex::new(HashMap::new()),
            checking: Mutex::default(),
        }
    }
}

/// Why a login may not be tried now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotNow {
    /// Earlier failures impose this many more seconds.
    Wait(i64),
    /// A password for the same account, or too many for the address, is being checked.
    Busy,
}

/// A password check under way; it ends when dropped, also when the request is dropped
/// midway. Its outcome is told with `failed` or `succeeded`.
#[derive(Debug)]
pub struct LoginAttempt<'a> {
    throttle: &'a LoginThrottle,
    account: String,
    address: IpAddr,
}

impl LoginAttempt<'_> {
    /// Counts a wrong password; returns the wait it now imposes on that account from that
    /// address (0 for none).
    pub fn failed(&self, now: i64) -> i64 {
        self.throttle.failed(&self.account, self.address, now)
    }

    /// A right password.
    pub fn succeeded(&self) {
        self.throttle.succeeded(&self.account, self.address)
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        let mut checking = self.throttle.checking.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        checking.pairs.remove(&(std::mem::take(&mut self.account), self.address));
        if let Some(n) = checking.per_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                checking.per_address.remove(&self.address);
            }
        }
    }
}

/// The account a login names: its email as the store matches it (trimmed, any case).
fn account_key(email: &str) -> String {
    email.trim().to_lowercase()
}

impl LoginThrottle {
    fn is_known(&self, account: &str, address: IpAddr) -> bool {
        let known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        known.get(account).is_some_and(|addresses| addresses.contains(&address))
    }

    /// Starts checking a password for `email` from `address`, unless earlier failures impose
    /// a wait or the same account is being checked from there already: one at a time, so
    /// every failure is counted before the next try is allowed.
    pub fn begin(&self, email: &str, address: IpAddr, now: i64) -> Result<LoginAttempt<'_>, NotNow> {
        if let Some(wait) = self.wait(email, address, now) {
            return Err(NotNow::Wait(wait));
        }
        let account = account_key(email);
        let mut checking = self.checking.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let at_address = checking.per_address.get(&address).copied().unwrap_or(0);
        if at_address >= MAX_CHECKS_PER_ADDRESS || !checking.pairs.insert((account.clone(), address)) {
            return Err(NotNow::Busy);
        }
        checking.per_address.insert(address, at_address + 1);
        Ok(LoginAttempt { throttle: self, account, address })
    }

    /// Seconds to wait before `email` may try a password from `address`, if any.
    fn wait(&self, email: &str, address: IpAddr, now: i64) -> Option<i64> {
        let account = account_key(email);
        let account_wide = if self.is_known(&account, address) { None } else { self.account.wait(&account, now) };
        [self.account_from_address.wait(&(account.clone(), address), now), self.address.wait(&address, now), account_wide]
            .into_iter()
            .flatten()
            .max()
    }

    fn failed(&self, email: &str, address: IpAddr, now: i64) -> i64 {
        let account = account_key(email);
        self.address.fail(address, now);
        if !self.is_known(&account, address) {
            self.account.fail(account.clone(), now);
        }
        self.account_from_address.fail((account, address), now)
    }

    /// A right password: that account's count from that address starts over, and the address
    /// is one it is used from. (The address's own count does not: one account of one's own
    /// must not reset guessing at others.)
    fn succeeded(&self, email: &str, address: IpAddr) {
        let account = account_key(email);
        self.account_from_address.clear(&(account.clone(), address));
        let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let addresses = known.entry(account).or_default();
        if !addresses.contains(&address) {
            if addresses.len() == KNOWN_ADDRESSES {
                addresses.remove(0);
            }
            addresses.push(address);
        }
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

    #[test]
    fn guessing_one_account_from_one_address_waits_but_other_addresses_do_not() {
        let t = LoginThrottle::default();
        for _ in 0..4 {
            assert_eq!(t.failed("Carol@tshirts.example", ip(1), 100), 0);
        }
        assert_eq!(t.failed(" carol@tshirts.example", ip(1), 100), 4);
        assert_eq!(t.wait("CAROL@tshirts.example", ip(1), 101), Some(3), "any spelling of the email");
        assert_eq!(t.wait("carol@tshirts.example", ip(2), 101), None, "Carol herself, elsewhere, is not locked out");
        assert_eq!(t.wait("dave@tshirts.example", ip(1), 101), None, "other accounts from that address are not");
    }

    #[test]
    fn a_right_password_starts_the_count_over_for_that_address_only() {
        let t = LoginThrottle::default();
        for _ in 0..5 {
            t.failed("carol@tshirts.example", ip(1), 100);
        }
        t.succeeded("carol@tshirts.example", ip(1));
        assert_eq!(t.wait("carol@tshirts.example", ip(1), 100), None);
        for _ in 0..4 {
            assert_eq!(t.failed("carol@tshirts.example", ip(1), 100), 0);
        }
    }

    #[test]
    fn one_address_guessing_many_accounts_waits() {
        let t = LoginThrottle::default();
        for n in 0..49 {
            assert_eq!(t.failed(&format!("user{n}@tshirts.example"), ip(1), 100), 0);
        }
        t.failed("user49@tshirts.example", ip(1), 100);
        assert_eq!(t.wait("anyone@tshirts.example", ip(1), 100), Some(4));
        assert_eq!(t.wait("anyone@tshirts.example", ip(2), 100), None);
    }

    #[test]
    fn guessing_spread_over_many_addresses_spares_the_addresses_the_user_logs_in_from() {
        let t = LoginThrottle::default();
        t.succeeded("carol@tshirts.example", ip(7));
        for n in 0..100u8 {
            t.failed("carol@tshirts.example", IpAddr::from([198, 51, 100, n]), 100);
        }
        assert_eq!(t.wait("carol@tshirts.example", ip(200), 100), Some(4), "a new address waits");
        assert_eq!(t.wait("carol@tshirts.example", ip(7), 100), None, "Carol's own address does not");
    }

    #[test]
    fn passwords_sent_in_parallel_are_checked_one_at_a_time_per_account() {
        let t = LoginThrottle::default();
        let first = t.begin("carol@tshirts.example", ip(1), 100).unwrap();
        assert_eq!(t.begin("CAROL@tshirts.example", ip(1), 100).unwrap_err(), NotNow::Busy);
        let elsewhere = t.begin("carol@tshirts.example", ip(2), 100).unwrap();
        first.failed(100);
        drop(first);
        assert!(t.begin("carol@tshirts.example", ip(1), 100).is_ok(), "once the first is counted");
        drop(elsewhere);
        // Four at once from one address, whichever the accounts; a dropped check frees its place.
        let many: Vec<_> = (0..4).map(|n| t.begin(&format!("user{n}@tshirts.example"), ip(3), 100).unwrap()).collect();
        assert_eq!(t.begin("user9@tshirts.example", ip(3), 100).unwrap_err(), NotNow::Busy);
        drop(many);
        assert!(t.begin("user9@tshirts.example", ip(3), 100).is_ok());
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
}

//! Rows that decide who a request is and what it may open — users, tenants, grants, groups,
//! projects and their permissions, webapps, settings — are read on every page and change
//! rarely. (Impersonations start and end all the time and only the requests they concern read
//! them: those are read from the database each time.) The rows are kept here while the
//! database's `access_version` stays put: triggers move it on every change to those tables,
//! whoever writes (this server or the command line). The writer reads it after each commit, before answering its callers, and
//! every session load reads it with the session, so a request sees every change committed
//! before it began — a demotion, a disable, a revoked grant, the global switch — at once.
//!
//! Only requests that brought the cache up to date read through it (`Cached`): a browser
//! request loads its session, an API request its client: both queries read the version too.
//! The job runner and the command line read the database directly.

use super::projects::ProjectRow;
use super::users::User;
use super::webapps::WebappRow;
use super::{grants, params, projects, settings, tenants, users, webapps, Conn, Db};
use crate::backend::rules::permissions::ProjectGrants;
use crate::model::ImpersonationMode;
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Entries kept at most; past it the cache starts over (each entry is small; the bound only
/// stops a flood of distinct keys from growing memory).
const MAX_ENTRIES: usize = 20_000;

/// What a cached read was: its query and arguments.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Key {
    User(i64),
    UserByEmail(String),
    TenantName(i64),
    ImpersonationEnabled,
    GrantModes { tenant_id: i64, actor: i64, subject: i64 },
    Candidates { tenant_id: i64, actor: i64 },
    Project { tenant_id: i64, key: String },
    Projects(i64),
    ProjectGrants { project_id: i64, user_id: i64 },
    Webapp { project_id: i64, slug: String },
    WebappById(i64),
}

type Entry = Arc<dyn Any + Send + Sync>;

/// The version of a cache that does not know where the database stands (no row has it).
const UNKNOWN: i64 = i64::MIN;

struct Inner {
    /// The `access_version` the entries were read at.
    version: i64,
    entries: HashMap<Key, Entry>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner { version: UNKNOWN, entries: HashMap::new() }
    }
}

/// The cache; one per database, shared by every request.
#[derive(Default)]
pub struct ReadCache {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache").finish_non_exhaustive()
    }
}



impl ReadCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters: at worst an entry is missing.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tells the cache the database has reached `version`: anything read before it moved there
    /// is dropped. The version only goes forward (an observer that read it earlier may report
    /// it late), so an entry kept at version `v` was read from a database at `v` or later.
    pub fn observe(&self, version: i64) {
        let mut inner = self.lock();
        if version > inner.version {
            inner.entries.clear();
            inner.version = version;
        }
    }

    /// Learns where the access version stands after the writer's commit, on its connection;
    /// when that cannot be read, forgets everything rather than risk serving a row the batch
    /// changed.
    pub(super) fn learn_after_commit(&self, conn: &Conn) {
        match super::query_row(conn, "SELECT value FROM access_version WHERE id = 1", params![], |row| row.get(0)) {
            Ok(version) => self.observe(version),
            Err(e) => {
                tracing::warn!("cannot read the access version after a commit: {e}");
                self.forget();
            }
        }
    }

    /// Drops every entry, and keeps none until the next `observe`.
    pub fn forget(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.version = UNKNOWN;
    }

    /// The version entries are read at (tests).
    pub fn version(&self) -> i64 {
        self.lock().version
    }

    async fn get_or_load<T, F>(&self, key: Key, load: F) -> Result<T, sqlx::Error>
    where
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        let seen = {
            let inner = self.lock();
            if let Some(value) = inner.entries.get(&key).and_then(|e| e.downcast_ref::<T>()) {
                return Ok(value.clone());
            }
            inner.version
        };
        let value = load.await?;
        let mut inner = self.lock();
        // Kept only if nothing moved meanwhile: a read that raced a change may be stale.
        if inner.version == seen && seen != UNKNOWN {
            if inner.entries.len() >= MAX_ENTRIES {
                inner.entries.clear();
            }
            inner.entries.insert(key, Arc::new(value.clone()));
        }
        Ok(value)
    }
}

/// Reads through the cache. Use only within a request that brought the cache up to date (see
/// the module's comment); elsewhere read the store directly.
#[derive(Clone, Copy)]
pub struct Cached<'a> {
    pub db: &'a Db,
    pub cache: &'a ReadCache,
}

impl Cached<'_> {
    pub async fn user(&self, id: i64) -> Result<Option<User>, sqlx::Error> {
        self.cache.get_or_load(Key::User(id), users::by_id(self.db, id)).await
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, sqlx::Error> {
        self.cache.get_or_load(Key::UserByEmail(email.to_string()), users::by_email(self.db, email)).await
    }

    /// A user of `tenant_id` (users are cached by id alone; another tenant's is not returned).
    pub async fn user_in(&self, tenant_id: i64, id: i64) -> Result<Option<User>, sqlx::Error> {
        Ok(self.user(id).await?.filter(|u| u.tenant_id == tenant_id))
    }

    /// The user of `tenant_id` with `email`.
    pub async fn user_by_email_in(&self, tenant_id: i64, email: &str) -> Result<Option<User>, sqlx::Error> {
        Ok(self.user_by_email(email).await?.filter(|u| u.tenant_id == tenant_id))
    }

    pub async fn tenant_name(&self, tenant_id: i64) -> Result<String, sqlx::Error> {
        self.cache.get_or_load(Key::TenantName(tenant_id), tenants::name_of(self.db, tenant_id)).await
    }

    pub async fn impersonation_enabled(&self) -> Result<bool, sqlx::Error> {
        self.cache.get_or_load(Key::ImpersonationEnabled, settings::impersonation_enabled(self.db)).await
    }

    /// The modes the tenant's grants allow `actor` on `subject` (empty: no grant covers them).
    pub async fn grant_modes(&self, tenant_id: i64, actor: i64, subject: i64) -> Result<Vec<ImpersonationMode>, sqlx::Error> {
        let key = Key::GrantModes { tenant_id, actor, subject };
        self.cache.get_or_load(key, grants::modes(self.db, tenant_id, actor, subject)).await
    }

    pub async fn enabled_users_granted_to(&self, tenant_id: i64, actor: i64) -> Result<Vec<(User, bool)>, sqlx::Error> {
        let key = Key::Candidates { tenant_id, actor };
        self.cache.get_or_load(key, grants::enabled_users_granted_to(self.db, tenant_id, actor)).await
    }

    pub async fn project(&self, tenant_id: i64, key: &str) -> Result<Option<ProjectRow>, sqlx::Error> {
        let cache_key = Key::Project { tenant_id, key: key.to_string() };
        self.cache.get_or_load(cache_key, projects::by_key(self.db, tenant_id, key)).await
    }

    /// The projects of a tenant, by key.
    pub async fn projects(&self, tenant_id: i64) -> Result<Vec<ProjectRow>, sqlx::Error> {
        self.cache.get_or_load(Key::Projects(tenant_id), projects::list(self.db, tenant_id)).await
    }

    pub async fn project_grants(&self, project_id: i64, user_id: i64) -> Result<ProjectGrants, sqlx::Error> {
        let key = Key::ProjectGrants { project_id, user_id };
        self.cache.get_or_load(key, projects::grants_of(self.db, project_id, user_id)).await
    }

    pub async fn webapp(&self, project_id: i64, slug: &str) -> Result<Option<WebappRow>, sqlx::Error> {
        let key = Key::Webapp { project_id, slug: slug.to_string() };
        self.cache.get_or_load(key, webapps::by_slug(self.db, project_id, slug)).await
    }

    pub async fn webapp_by_id(&self, id: i64) -> Result<Option<WebappRow>, sqlx::Error> {
        self.cache.get_or_load(Key::WebappById(id), webapps::by_id(self.db, id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::{Key, ReadCache};
    use futures::executor::block_on;

    fn read(cache: &ReadCache, value: i64) -> i64 {
        block_on(cache.get_or_load(Key::User(1), async { Ok(value) })).unwrap()
    }

    #[test]
    fn keeps_a_read_while_the_version_stays() {
        let cache = ReadCache::default();
        cache.observe(5);
        assert_eq!(read(&cache, 1), 1);
        assert_eq!(read(&cache, 2), 1, "served from the cache");
        cache.observe(5);
        assert_eq!(read(&cache, 3), 1, "the same version keeps it");
        cache.observe(6);
        assert_eq!(read(&cache, 4), 4, "a new version drops it");
    }

    #[test]
    fn drops_a_read_that_raced_a_change() {
        let cache = ReadCache::default();
        cache.observe(5);
        let raced = block_on(cache.get_or_load(Key::User(1), async {
            cache.observe(6); // committed while the row was being read
            Ok(1_i64)
        }));
        assert_eq!(raced.unwrap(), 1);
        assert_eq!(read(&cache, 2), 2, "the raced read was not kept");
        assert_eq!(read(&cache, 3), 2);
    }

    #[test]
    fn never_goes_back_to_an_older_version() {
        let cache = ReadCache::default();
        cache.observe(7);
        assert_eq!(read(&cache, 1), 1);
        cache.observe(6); // a slow request reporting what it saw earlier
        assert_eq!(cache.version(), 7);
        assert_eq!(read(&cache, 2), 1);
    }

    #[test]
    fn keeps_nothing_until_it_knows_the_version() {
        let cache = ReadCache::default();
        assert_eq!(read(&cache, 1), 1);
        assert_eq!(read(&cache, 2), 2, "unknown version: nothing kept");
        cache.observe(3);
        assert_eq!(read(&cache, 3), 3);
        cache.forget();
        assert_eq!(read(&cache, 4), 4);
        assert_eq!(read(&cache, 5), 5, "forgotten: nothing kept until observed");
        cache.observe(3);
        assert_eq!(read(&cache, 6), 6);
        assert_eq!(read(&cache, 7), 6);
    }

    #[test]
    fn errors_are_not_kept() {
        let cache = ReadCache::default();
        cache.observe(1);
        let failed: Result<i64, _> = block_on(cache.get_or_load(Key::User(1), async { Err(sqlx::Error::PoolTimedOut) }));
        assert!(failed.is_err());
        assert_eq!(read(&cache, 2), 2);
    }
}

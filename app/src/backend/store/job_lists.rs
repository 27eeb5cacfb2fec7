//! The job lists pages show, kept while neither the jobs nor the rows they name change.
//!
//! The jobs page and each webapp page read a list of recent jobs on every visit, and a list
//! changes only when a job does, or a name, email or project key it shows. Triggers move
//! `jobs_version` on every change to `jobs`, whoever writes (this server, another one, the
//! command line), and `access_version` moves with users and projects (`store::cache`). A list
//! is kept with the two versions it was read at and served while the database still shows
//! them. The versions are read before the list: a list that a change overtook is labelled
//! older than it is, so it is dropped at the next visit, never served stale.

use super::jobs::{list_in, JobFilter};
use super::{params, query_row, Db};
use crate::model::JobList;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Rows kept in all lists at most (a few hundred bytes each); past it the lists start over.
const MAX_ROWS: usize = 10_000;

/// Where the database stood when a list was read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Versions {
    jobs: i64,
    access: i64,
}

impl Versions {
    /// Both counters only go forward: `self` is later when neither is behind.
    fn is_after(self, other: Versions) -> bool {
        self != other && self.jobs >= other.jobs && self.access >= other.access
    }
}

type Key = (i64, JobFilter);

#[derive(Default)]
struct Inner {
    versions: Versions,
    lists: HashMap<Key, Arc<JobList>>,
    rows: usize,
}

/// The lists of one database, shared by every request.
#[derive(Default)]
pub struct JobLists {
    inner: Mutex<Inner>,
}

impl JobLists {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves at worst a list missing.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Jobs of a tenant, newest first: the kept list while it is current, else read now.
    pub async fn list(self: &Arc<Self>, db: &Db, tenant_id: i64, filter: &JobFilter) -> Result<Arc<JobList>, sqlx::Error> {
        let (lists, key) = (self.clone(), (tenant_id, filter.clone()));
        db.read_inline(move |conn| {
            let versions = query_row(
                conn,
                "SELECT (SELECT value FROM jobs_version WHERE id = 1), (SELECT value FROM access_version WHERE id = 1)",
                params![],
                |row| Ok(Versions { jobs: row.get(0)?, access: row.get(1)? }),
            )?;
            if let Some(list) = lists.kept(&key, versions) {
                return Ok(list);
            }
            let list = Arc::new(JobList::new(list_in(conn, key.0, &key.1)?));
            lists.keep(key, versions, list.clone());
            Ok(list)
        })
        .await
    }

    fn kept(&self, key: &Key, versions: Versions) -> Option<Arc<JobList>> {
        let inner = self.lock();
        (inner.versions == versions).then(|| inner.lists.get(key).cloned()).flatten()
    }

    /// Keeps a list read at `versions`, unless the database has moved on since (a list read
    /// by a request that started earlier).
    fn keep(&self, key: Key, versions: Versions, list: Arc<JobList>) {
        let mut inner = self.lock();
        if versions.is_after(inner.versions) {
            *inner = Inner { versions, ..Inner::default() };
        } else if versions != inner.versions {
            return;
        }
        if inner.rows + list.jobs().len() > MAX_ROWS {
            inner.lists.clear();
            inner.rows = 0;
        }
        inner.rows += list.jobs().len();
        if let Some(replaced) = inner.lists.insert(key, list) {
            inner.rows -= replaced.jobs().len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{sample_job, JobStatus};

    fn at(jobs: i64, access: i64) -> Versions {
        Versions { jobs, access }
    }

    fn list(n: usize) -> Arc<JobList> {
        Arc::new(JobList::new(vec![sample_job(1, JobStatus::Succeeded); n]))
    }

    fn key(tenant: i64) -> Key {
        (tenant, JobFilter { limit: 50, ..JobFilter::default() })
    }

    #[test]
    fn a_list_is_served_only_at_the_versions_it_was_read_at() {
        let lists = JobLists::default();
        lists.keep(key(1), at(5, 7), list(2));
        assert!(lists.kept(&key(1), at(5, 7)).is_some());
        assert!(lists.kept(&key(1), at(6, 7)).is_none(), "a job changed");
        assert!(lists.kept(&key(1), at(5, 8)).is_none(), "a user or project changed");
        assert!(lists.kept(&key(2), at(5, 7)).is_none(), "another tenant");
    }

    #[test]
    fn a_later_read_replaces_every_list_and_an_earlier_one_is_not_kept() {
        let lists = JobLists::default();
        lists.keep(key(1), at(5, 7), list(2));
        lists.keep(key(2), at(6, 7), list(2));
        assert!(lists.kept(&key(1), at(6, 7)).is_none());
        assert!(lists.kept(&key(2), at(6, 7)).is_some());
        lists.keep(key(1), at(5, 7), list(2));
        assert!(lists.kept(&key(1), at(5, 7)).is_none(), "read before the database moved on");
        assert!(lists.kept(&key(2), at(6, 7)).is_some());
    }

    #[test]
    fn the_rows_kept_stay_bounded() {
        let lists = JobLists::default();
        for tenant in 0..(MAX_ROWS as i64 / 100 + 5) {
            lists.keep(key(tenant), at(1, 1), list(100));
        }
        assert!(lists.lock().rows <= MAX_ROWS);
        lists.keep(key(0), at(1, 1), list(100));
        lists.keep(key(0), at(1, 1), list(100));
        let inner = lists.lock();
        assert_eq!(inner.rows, inner.lists.values().map(|l| l.jobs().len()).sum::<usize>());
    }
}

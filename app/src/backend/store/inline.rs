//! Reads that every request of a hot path makes (a session, an API client) run inline, on a
//! read-only connection of the calling thread's own: a point lookup found in SQLite's page
//! cache takes microseconds, less than handing it to the read pool's thread and back.
//! Everything else reads through the pool (`Db`).

use super::{Conn, Db, SqlResult};
use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// Databases a thread keeps a connection to (tests open many in one process; a server one).
const KEPT_PER_THREAD: usize = 4;
/// Statements kept prepared on each connection.
const STATEMENT_CACHE: usize = 32;

thread_local! {
    static READERS: RefCell<Vec<(PathBuf, Conn)>> = const { RefCell::new(Vec::new()) };
}

fn connect(file: &Path) -> rusqlite::Result<Conn> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = rusqlite::Connection::open_with_flags(file, flags)?;
    conn.busy_timeout(super::sql::BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(Conn::sqlite(conn))
}

/// Runs `read` on this thread's read-only connection to the database of `db` (opened on first
/// use). A connection that failed is dropped, so the next read opens a fresh one.
pub fn read<T>(db: &Db, read: impl FnOnce(&Conn) -> SqlResult<T>) -> Result<T, sqlx::Error> {
    let options = db.connect_options();
    let file = options.get_filename();
    READERS.with(|readers| {
        let mut readers = readers.borrow_mut();
        let at = match readers.iter().position(|(path, _)| path == file) {
            Some(at) => at,
            None => {
                let conn = connect(file).map_err(super::SqlError::from)?;
                if readers.len() == KEPT_PER_THREAD {
                    readers.remove(0);
                }
                readers.push((file.to_path_buf(), conn));
                readers.len() - 1
            }
        };
        let outcome = read(&readers[at].1);
        if outcome.is_err() {
            readers.remove(at);
        }
        Ok(outcome?)
    })
}

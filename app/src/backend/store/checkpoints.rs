//! WAL checkpoints on a thread of their own. A checkpoint copies the pages the WAL gathered
//! into the database file and syncs both: left to the writer (SQLite's automatic checkpoint,
//! every 1,000 pages), each one stalled every write for milliseconds. Here a passive
//! checkpoint runs shortly after writes, beside the writer. The writer still checkpoints, at a
//! much larger WAL: that one is left only what came since, and restarts the WAL from its
//! start so the file stops growing (a passive checkpoint beside steady writes never catches up
//! with the last frame, and only then may the WAL restart).

use super::sql::BUSY_TIMEOUT;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::Duration;

/// How long after a commit the checkpoint runs: writes in between are copied together.
/// (With the writer checkpointing at 16,000 pages instead of every 1,000, this gave 6% more
/// token exchanges at a p99 1.4 ms higher in `make bench`.)
const DELAY: Duration = Duration::from_millis(20);

/// Wakes the checkpoint thread after a commit; the thread stops when this is dropped.
pub struct Checkpoints {
    wake: SyncSender<()>,
}

impl Checkpoints {
    /// Starts the checkpoint thread on the database `file`.
    pub fn spawn(file: &Path) -> Result<Checkpoints, String> {
        let conn = rusqlite::Connection::open(file)
            .and_then(|conn| conn.busy_timeout(BUSY_TIMEOUT).map(|()| conn))
            .map_err(|e| format!("cannot open the database {} for checkpoints: {e}", file.display()))?;
        let (wake, woken) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("guise-checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &woken))
            .map_err(|e| format!("cannot start the checkpoint thread: {e}"))?;
        Ok(Checkpoints { wake })
    }

    /// Says that a commit happened (never waits: a wake-up already pending covers it).
    pub fn after_commit(&self) {
        let _ = self.wake.try_send(());
    }
}

fn checkpoint_loop(conn: &rusqlite::Connection, woken: &Receiver<()>) {
    let mut last_error = String::new();
    while woken.recv().is_ok() {
        // Let the writes of the next moments gather: this checkpoint covers them too.
        std::thread::sleep(DELAY);
        let _ = woken.try_recv();
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => last_error.clear(),
            Err(e) => {
                // The writer's own checkpoint still bounds the WAL; say each new failure once.
                let error = e.to_string();
                if error != last_error {
                    tracing::warn!("a background checkpoint failed: {error}");
                    last_error = error;
                }
            }
        }
    }
}

//! Handing freed memory back to the system. The allocator (mimalloc) returns freed pages
//! after a short delay, but only when some thread next allocates or frees: after a burst
//! the server goes quiet and would keep the burst's peak. Returning pages at once instead
//! cost every page render a system call (about 13% of SSR throughput, `make bench`).

use std::time::Duration;

/// How often an idle server gives back the pages whose delay has passed.
const PURGE_EVERY: Duration = Duration::from_secs(1);

/// Runs `work` (argon2, about 19 MiB of working memory), then hands that memory back at
/// once: a blocking-pool thread may idle for seconds after a login.
pub fn released_after<T>(work: impl FnOnce() -> T) -> T {
    let result = work();
    collect(true);
    result
}

/// Starts the thread that gives back, each second, the freed pages whose delay has passed.
pub fn keep_purging() -> std::io::Result<()> {
    std::thread::Builder::new().name("memory-purge".into()).spawn(|| loop {
        std::thread::sleep(PURGE_EVERY);
        collect(false);
    })?;
    Ok(())
}

fn collect(force: bool) {
    // SAFETY: asks mimalloc to purge pages already freed; it touches no memory in use, and
    // with another global allocator it only visits mimalloc's own (empty) heaps.
    unsafe { libmimalloc_sys::mi_collect(force) };
}

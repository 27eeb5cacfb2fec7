//! Handing freed memory back to the system. The allocator (mimalloc) returns freed pages
//! after a delay, but only when some thread next allocates or frees: after a burst the
//! server goes quiet and would keep the burst's peak. Returning pages at once instead cost
//! every page render a system call (about 13% of SSR throughput, `make bench`).

use std::os::raw::c_long;
use std::time::{Duration, Instant};

/// How often an idle server gives back the pages whose delay has passed.
const PURGE_EVERY: Duration = Duration::from_secs(1);
/// How long freed pages wait before they go back (mimalloc's own default is 1 s). At 100 ms
/// `make bench` ended at 52–66 MB instead of 80–85, with the same page throughput.
const PURGE_DELAY_MS: c_long = 100;
/// mimalloc's option numbers (`mi_option_e` in its v3 `mimalloc.h`), which its Rust binding
/// does not name; a test checks them against the options' defaults.
const OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Runs `work` (argon2, about 19 MiB of working memory), then hands that memory back at
/// once: a blocking-pool thread may idle for seconds after a login.
pub fn released_after<T>(work: impl FnOnce() -> T) -> T {
    let result = work();
    collect(true);
    result
}

/// How often a busy thread hands back the pages it emptied (see `tidy_this_thread`).
const TIDY_EVERY: Duration = Duration::from_millis(250);

/// Hands back the pages this thread emptied, at most once every `TIDY_EVERY`. mimalloc keeps
/// a thread's emptied pages in that thread's heap, where only the thread itself can give them
/// back: the purge thread cannot reach them. Called where the most is allocated and freed:
/// by the runtime's workers as they go idle, by read threads after a read, by the writer after
/// a batch. Without it the bench ended with 40–50 MB more, emptied but kept.
pub fn tidy_this_thread() {
    thread_local! {
        static LAST: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
    }
    LAST.with(|last| {
        let now = Instant::now();
        if last.get().is_none_or(|at| now.duration_since(at) >= TIDY_EVERY) {
            last.set(Some(now));
            collect(false);
        }
    });
}

/// Sets how the server hands memory back and starts the thread that gives back, each second,
/// the freed pages whose delay has passed.
pub fn keep_purging() -> std::io::Result<()> {
    without_huge_pages();
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an option of the allocator; mimalloc reads it at each purge.
        unsafe { libmimalloc_sys::mi_option_set(OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
    std::thread::Builder::new().name("memory-purge".into()).spawn(|| loop {
        std::thread::sleep(PURGE_EVERY);
        collect(false);
    })?;
    Ok(())
}

/// Transparent huge pages stay resident whole (2 MiB) while any byte of them is in use, so
/// freed memory inside them never went back: 22–27 MB of the server's RSS after a burst of
/// builds were huge pages. The allocator's pages are 64 KiB; the server gains no measurable
/// speed from huge ones (`make bench`).
fn without_huge_pages() {
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag of this process.
    let refused = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0;
    if refused {
        tracing::warn!("cannot turn transparent huge pages off: {}", std::io::Error::last_os_error());
    }
    // SAFETY: as above; the allocator then no longer asks for huge pages either.
    unsafe { libmimalloc_sys::mi_option_set(OPTION_ALLOW_THP, 0) };
}

fn collect(force: bool) {
    // SAFETY: asks mimalloc to purge pages already freed; it touches no memory in use, and
    // with another global allocator it only visits mimalloc's own (empty) heaps.
    unsafe { libmimalloc_sys::mi_collect(force) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_numbers_name_the_purge_delay_and_huge_pages() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() || std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
            return; // the defaults below are overridden by the environment
        }
        // SAFETY: reads two options of the allocator.
        let (delay, thp) = unsafe {
            (libmimalloc_sys::mi_option_get(OPTION_PURGE_DELAY), libmimalloc_sys::mi_option_get(OPTION_ALLOW_THP))
        };
        assert_eq!(delay, 1000, "option {OPTION_PURGE_DELAY} is not the purge delay (default 1000 ms)");
        assert_eq!(thp, 1, "option {OPTION_ALLOW_THP} is not allow_thp (default on)");
    }
}

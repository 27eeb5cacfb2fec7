use clap::Parser;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

// Each password check allocates argon2's ~19 MiB working memory. glibc's malloc keeps such
// blocks in per-thread arenas once its mmap threshold has grown past them, so RSS climbed
// with every login; mimalloc hands freed memory back to the system (see `main`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (v2 and v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[tokio::main]
async fn main() -> ExitCode {
    // Give freed memory back at once instead of after a delay, unless the operator set the
    // delay: RSS then follows the load instead of keeping the peak of every burst (after 152
    // logins, 45 MB instead of 110 MB, at the same throughput: `make bench`).
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option of the allocator; any value is valid for it.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
    // `.env` first, so its values count as environment for the flags.
    let _ = dotenvy::dotenv();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn")))
        .init();
    let cli = server::config::Cli::parse();
    match server::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

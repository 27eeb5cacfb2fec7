use clap::Parser;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

// Each password check allocates argon2's ~19 MiB working memory. glibc's malloc keeps such
// blocks in per-thread arenas once its mmap threshold has grown past them, so RSS climbed
// with every login; mimalloc hands freed memory back to the system (after a login, at once:
// `backend::auth`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `.env` first, so its values count as environment for the flags.
    let _ = dotenvy::dotenv();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn")))
        .init();
    let cli = server::config::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Past this bound blocking tasks wait for a thread; without one every read handed
        // over while its thread was still returning to the pool started another (40 under
        // load), each keeping its own memory.
        .max_blocking_threads(app::backend::state::blocking_threads())
        // A worker going idle hands back the memory it emptied (see `memory`).
        .on_thread_park(app::backend::memory::tidy_this_thread)
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

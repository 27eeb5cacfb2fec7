//! The Guise server: configuration, start-up, the HTTP application and the command line.

pub mod cli;
pub mod config;
pub mod events;
pub mod middleware;
pub mod render_whole;
pub mod router;
pub mod api_v2;
pub mod webapps;

use app::backend::secrets::ServerKey;
use app::backend::state::{AppState, Keys, Settings};
use app::backend::{seed, shared_throttles, store, tokens};
use std::path::{Path, PathBuf};

/// Where the server key lives unless `GUISE_KEY_FILE` says otherwise: beside the database
/// file, with the extension `.key` (`data/guise.db` → `data/guise.key`).
pub fn default_key_file(database_url: &str) -> Option<PathBuf> {
    let path = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path.starts_with(':') {
        return None;
    }
    Some(Path::new(path).with_extension("key"))
}

/// The server key from `key_file`, or beside the database; an in-memory database gets one
/// that lives as long as the process. On PostgreSQL the key file must be named: every server
/// of the database needs the same key (it seals the secrets and signs the audit chains), and
/// one made up on the spot would make the stored ones unreadable.
pub fn server_key(database_url: &str, key_file: Option<&Path>) -> Result<ServerKey, String> {
    if key_file.is_none() && store::Engine::of(database_url)? == store::Engine::Postgres {
        return Err("DATABASE_URL names PostgreSQL: set GUISE_KEY_FILE to the server key file every Guise server \
                    of this database shares (it is created on first use)"
            .into());
    }
    match key_file.map(Path::to_path_buf).or_else(|| default_key_file(database_url)) {
        Some(path) => ServerKey::load_or_create(&path),
        None => Ok(ServerKey::ephemeral()),
    }
}

/// Opens and migrates the database, seeding the demo when asked and the database is empty,
/// and loads the keys (creating them on first start).
pub async fn open_state(database_url: &str, settings: Settings, demo: bool) -> Result<AppState, String> {
    let server = server_key(database_url, settings.key_file.as_deref())?;
    let database = store::open(database_url, server.chain_key()).await?;
    if demo && seed::seed_demo(&database, &server).await? {
        tracing::info!("seeded the demo organisation");
    }
    let tokens = tokens::load_or_create(&database, &server).await?;
    let relay = database.relay.clone();
    let state = AppState::new(database, settings, Keys { server, tokens });
    if let Some(relay) = relay {
        state.jobs.relay_through(relay).await;
    }
    shared_throttles::remember(&state).await.map_err(|e| format!("cannot read the throttles' counts: {e}"))?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_sits_beside_the_database() {
        assert_eq!(default_key_file("sqlite://data/guise.db"), Some(PathBuf::from("data/guise.key")));
        assert_eq!(default_key_file("sqlite:///tmp/x/g.db?mode=rwc"), Some(PathBuf::from("/tmp/x/g.key")));
        assert_eq!(default_key_file("sqlite::memory:"), None);
        assert_eq!(default_key_file("postgres://x"), None);
    }
}

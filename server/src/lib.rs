//! The Guise server: configuration, start-up, the HTTP application and the command line.

pub mod cli;
pub mod config;
pub mod events;
pub mod middleware;
pub mod router;

use app::backend::state::{AppState, Settings};
use app::backend::{seed, store};

/// Opens and migrates the database, seeding the demo when asked and the database is empty.
pub async fn open_state(database_url: &str, settings: Settings, demo: bool) -> Result<AppState, String> {
    let db = store::connect(database_url).await?;
    store::migrate(&db).await?;
    if demo && seed::seed_demo(&db).await? {
        tracing::info!("seeded the demo organisation");
    }
    Ok(AppState::new(db, settings))
}

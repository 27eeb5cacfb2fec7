//! The transforms that turn source datasets into derived ones.

pub mod geo;
pub mod orders_by_country;
pub mod user_agent;
pub mod web_history;

use super::build::Build;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipe {
    PrepareWebHistory,
    OrdersByCountry,
}

impl Recipe {
    pub const ALL: [Recipe; 2] = [Recipe::PrepareWebHistory, Recipe::OrdersByCountry];

    /// The name stored on a derived dataset.
    pub fn name(self) -> &'static str {
        match self {
            Recipe::PrepareWebHistory => "prepare_web_history",
            Recipe::OrdersByCountry => "orders_by_country",
        }
    }

    pub fn find(name: &str) -> Option<Recipe> {
        Recipe::ALL.into_iter().find(|r| r.name() == name)
    }

    pub fn output_columns(self) -> &'static [&'static str] {
        match self {
            Recipe::PrepareWebHistory => web_history::PREPARED_COLUMNS,
            Recipe::OrdersByCountry => orders_by_country::COLUMNS,
        }
    }

    pub async fn run(self, build: &mut Build<'_>) -> Result<(), String> {
        match self {
            Recipe::PrepareWebHistory => web_history::prepare(build).await,
            Recipe::OrdersByCountry => orders_by_country::aggregate(build).await,
        }
    }
}

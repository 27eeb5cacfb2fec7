//! The shop: the catalogue, the cart (kept in the session, never priced by the client),
//! placing an order, and the orders page.

use crate::error::AppError;
use crate::model::{CartView, OrderView, ShopView};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
mod cart {
    use crate::backend::auth::AuthSession;
    use crate::backend::principal::Principal;
    use crate::error::AppError;
    use serde::{Deserialize, Serialize};

    const SESSION_KEY: &str = "guise.cart";

    /// The cart of one way of acting: a cart filled while impersonating someone is not the
    /// cart of the impersonator, nor of the next impersonation.
    #[derive(Default, Serialize, Deserialize)]
    struct Cart {
        impersonation_id: Option<i64>,
        lines: Vec<(i64, i64)>,
    }

    fn session_error(e: impl std::fmt::Display) -> AppError {
        AppError::internal(format!("session: {e}"))
    }

    pub async fn session() -> Result<AuthSession, AppError> {
        leptos_axum::extract().await.map_err(|e| AppError::internal(format!("auth session unavailable: {e}")))
    }

    /// The principal's cart lines `(product id, quantity)`.
    pub async fn lines(session: &AuthSession, principal: &Principal) -> Result<Vec<(i64, i64)>, AppError> {
        let cart: Option<Cart> = session.session.get(SESSION_KEY).await.map_err(session_error)?;
        Ok(cart.filter(|c| c.impersonation_id == principal.impersonation_id()).map(|c| c.lines).unwrap_or_default())
    }

    pub async fn save(session: &AuthSession, principal: &Principal, lines: Vec<(i64, i64)>) -> Result<(), AppError> {
        if lines.is_empty() {
            session.session.remove::<Cart>(SESSION_KEY).await.map_err(session_error)?;
            return Ok(());
        }
        let cart = Cart { impersonation_id: principal.impersonation_id(), lines };
        session.session.insert(SESSION_KEY, cart).await.map_err(session_error)
    }
}

/// The shop page: the catalogue at the shopper's prices.
#[server(endpoint = "shop")]
pub async fn shop_page() -> Result<ShopView, AppError> {
    use crate::backend::{identity, services::shop, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let lines = cart::lines(&cart::session().await?, &principal).await?;
    shop::catalogue(&state, &principal, lines.iter().map(|(_, q)| q).sum()).await
}

/// Adds `quantity` of a product to the cart.
#[server(endpoint = "shop/cart/add")]
pub async fn add_to_cart(product_id: i64, quantity: i64) -> Result<(), AppError> {
    use crate::backend::{identity, rules::shop as rules, services::shop, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let session = cart::session().await?;
    let mut lines = cart::lines(&session, &principal).await?;
    lines.push((product_id, quantity));
    let lines = rules::check_cart(&lines).map_err(|r| shop::refusal_error(&r))?;
    shop::check_product(&state, &principal, product_id).await?;
    cart::save(&session, &principal, lines).await
}

/// Sets a product's quantity in the cart; 0 takes it out.
#[server(endpoint = "shop/cart/set")]
pub async fn set_cart_line(product_id: i64, quantity: i64) -> Result<(), AppError> {
    use crate::backend::{identity, rules::shop as rules, services::shop};
    let principal = identity::current().await?;
    let session = cart::session().await?;
    let mut lines = cart::lines(&session, &principal).await?;
    lines.retain(|(p, _)| *p != product_id);
    if quantity != 0 {
        lines.push((product_id, quantity));
        lines = rules::check_cart(&lines).map_err(|r| shop::refusal_error(&r))?;
    }
    cart::save(&session, &principal, lines).await
}

/// The cart, priced now at the shopper's prices.
#[server(endpoint = "shop/cart")]
pub async fn cart_page() -> Result<CartView, AppError> {
    use crate::backend::{identity, services::shop, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let lines = cart::lines(&cart::session().await?, &principal).await?;
    shop::cart(&state, &principal, &lines).await
}

/// Places an order of the cart, then shows the orders.
#[server(endpoint = "shop/order")]
pub async fn place_order() -> Result<(), AppError> {
    use crate::backend::{identity, services::shop, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let session = cart::session().await?;
    let lines = cart::lines(&session, &principal).await?;
    shop::place_order(&state, &principal, &lines).await?;
    cart::save(&session, &principal, Vec::new()).await?;
    leptos_axum::redirect("/orders");
    Ok(())
}

/// The orders the signed-in person sees.
#[server(endpoint = "orders")]
pub async fn orders_page() -> Result<Vec<OrderView>, AppError> {
    use crate::backend::{identity, services::shop, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    shop::orders(&state, &principal).await
}

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

    /// The cart of one person acting one way: a cart filled while impersonating someone is not
    /// the cart of the impersonator, nor of the next impersonation, nor of whoever signs in next
    /// on the same browser.
    #[derive(Default, Serialize, Deserialize)]
    struct Cart {
        user_id: i64,
        actor_id: Option<i64>,
        impersonation_id: Option<i64>,
        /// Names this cart to the order placed from it: a cart is ordered at most once.
        token: String,
        lines: Vec<(i64, i64)>,
    }

    /// A cart's lines, and the token of the cart they are in.
    pub struct Lines {
        pub token: String,
        pub lines: Vec<(i64, i64)>,
    }

    impl Cart {
        fn is_of(&self, principal: &Principal) -> bool {
            (self.user_id, self.actor_id, self.impersonation_id)
                == (principal.subject().id, principal.actor().map(|a| a.id), principal.impersonation_id())
        }
    }

    fn session_error(e: impl std::fmt::Display) -> AppError {
        AppError::internal(format!("session: {e}"))
    }

    pub async fn session() -> Result<AuthSession, AppError> {
        leptos_axum::extract().await.map_err(|e| AppError::internal(format!("auth session unavailable: {e}")))
    }

    /// The principal's cart: lines `(product id, quantity)`, or a new empty cart.
    pub async fn lines(session: &AuthSession, principal: &Principal) -> Result<Lines, AppError> {
        let cart: Option<Cart> = session.session.get(SESSION_KEY).await.map_err(session_error)?;
        Ok(match cart.filter(|c| c.is_of(principal)) {
            Some(cart) => Lines { token: cart.token, lines: cart.lines },
            None => Lines { token: crate::backend::tokens::new_jti(), lines: Vec::new() },
        })
    }

    /// Keeps the cart's lines; an emptied cart is dropped, so the next one gets a new token.
    pub async fn save(session: &AuthSession, principal: &Principal, cart: Lines) -> Result<(), AppError> {
        if cart.lines.is_empty() {
            session.session.remove::<Cart>(SESSION_KEY).await.map_err(session_error)?;
            return Ok(());
        }
        let cart = Cart {
            user_id: principal.subject().id,
            actor_id: principal.actor().map(|a| a.id),
            impersonation_id: principal.impersonation_id(),
            token: cart.token,
            lines: cart.lines,
        };
        session.session.insert(SESSION_KEY, cart).await.map_err(session_error)
    }
}

/// The shop page: the catalogue at the shopper's prices.
#[server(endpoint = "shop")]
pub async fn shop_page() -> Result<ShopView, AppError> {
    use crate::backend::{identity, services::shop, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let cart = cart::lines(&cart::session().await?, &principal).await?;
    shop::catalogue(&state, &principal, cart.lines.iter().map(|(_, q)| q).sum()).await
}

/// Adds `quantity` of a product to the cart.
#[server(endpoint = "shop/cart/add")]
pub async fn add_to_cart(product_id: i64, quantity: i64) -> Result<(), AppError> {
    use crate::backend::{identity, rules::shop as rules, services::shop, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let session = cart::session().await?;
    let mut cart = cart::lines(&session, &principal).await?;
    cart.lines.push((product_id, quantity));
    cart.lines = rules::check_cart(&cart.lines).map_err(|r| shop::refusal_error(&r))?;
    shop::check_product(&state, &principal, product_id).await?;
    cart::save(&session, &principal, cart).await
}

/// Sets a product's quantity in the cart; 0 takes it out.
#[server(endpoint = "shop/cart/set")]
pub async fn set_cart_line(product_id: i64, quantity: i64) -> Result<(), AppError> {
    use crate::backend::{identity, rules::shop as rules, services::shop, state::AppState};
    let principal = identity::current().await?;
    let session = cart::session().await?;
    let mut cart = cart::lines(&session, &principal).await?;
    cart.lines.retain(|(p, _)| *p != product_id);
    if quantity != 0 {
        cart.lines.push((product_id, quantity));
        cart.lines = rules::check_cart(&cart.lines).map_err(|r| shop::refusal_error(&r))?;
        shop::check_product(&AppState::current()?, &principal, product_id).await?;
    }
    cart::save(&session, &principal, cart).await
}

/// The cart, priced now at the shopper's prices.
#[server(endpoint = "shop/cart")]
pub async fn cart_page() -> Result<CartView, AppError> {
    use crate::backend::{identity, services::shop, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let cart = cart::lines(&cart::session().await?, &principal).await?;
    shop::cart(&state, &principal, &cart.lines).await
}

/// Places an order of the cart, then shows the orders.
#[server(endpoint = "shop/order")]
pub async fn place_order() -> Result<(), AppError> {
    use crate::backend::{identity, services::shop, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let session = cart::session().await?;
    let cart = cart::lines(&session, &principal).await?;
    // The cart's token makes a second Place order of the same cart (a double click, another
    // tab) a refusal naming the first order, never a second order.
    shop::place_order(&state, &principal, &cart.lines, &cart.token).await?;
    cart::save(&session, &principal, cart::Lines { token: cart.token, lines: Vec::new() }).await?;
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

//! The shop as people use it: the catalogue at the shopper's prices, the cart priced on the
//! server, placing an order, and the orders a person sees. The mode of an impersonation
//! decides who the order is placed by and at whose prices; the customer is always the person
//! acted for, and the order keeps both people.

use crate::backend::audit::{AuditAction, Outcome};
use crate::backend::principal::Principal;
use crate::backend::rules::impersonation;
use crate::backend::rules::shop::{self as rules, OrderRefusal};
use crate::backend::state::AppState;
use crate::backend::store::{self, orders::{NewOrder, Placed}, shop::ShopRow};
use crate::error::AppError;
use crate::model::{CartLineView, CartView, OrderView, ShopView, ShopperView};

/// Orders a page lists at most.
const ORDERS_SHOWN: i64 = 200;

pub fn refusal_error(refusal: &OrderRefusal) -> AppError {
    let message = refusal.message();
    match refusal.status() {
        400 => AppError::BadRequest(message),
        403 => AppError::Forbidden(message),
        404 => AppError::NotFound(message),
        _ => AppError::Conflict(message),
    }
}

async fn shop_of(state: &AppState, principal: &Principal) -> Result<ShopRow, AppError> {
    store::shop::of_tenant(&state.db, principal.tenant_id())
        .await?
        .ok_or_else(|| AppError::NotFound("your organisation has no shop".into()))
}

/// Who orders for whom at whose prices, and the customer's id when they may order.
async fn shopper(state: &AppState, principal: &Principal) -> Result<(ShopperView, Option<i64>), AppError> {
    let customer = principal.subject();
    let priced_for = principal.price_user();
    let price_group = rules::price_group_of(store::users::attributes(&state.db, priced_for.id).await?.price_group);
    let customer_id = store::shop::customer_id(&state.db, customer.id).await?;
    let cannot_order = rules::may_be_customer(customer, customer_id.is_some()).err().map(|r| r.message());
    let view = ShopperView {
        customer: customer.view(),
        placed_by: principal.order_placed_by().view(),
        price_group,
        priced_for: priced_for.view(),
        cannot_order: cannot_order.clone(),
    };
    Ok((view, customer_id.filter(|_| cannot_order.is_none())))
}

/// The catalogue at the shopper's prices.
pub async fn catalogue(state: &AppState, principal: &Principal, items_in_cart: i64) -> Result<ShopView, AppError> {
    shop_of(state, principal).await?;
    let (shopper, _) = shopper(state, principal).await?;
    let products = store::shop::catalogue(&state.db, principal.tenant_id(), shopper.price_group).await?;
    Ok(ShopView { shopper, products, items_in_cart })
}

/// Checks that a product may go in the cart: it is in the shopper's catalogue.
pub async fn check_product(state: &AppState, principal: &Principal, product_id: i64) -> Result<(), AppError> {
    let view = catalogue(state, principal, 0).await?;
    if view.products.iter().any(|p| p.id == product_id) {
        Ok(())
    } else {
        Err(refusal_error(&OrderRefusal::UnknownProduct(product_id)))
    }
}

/// The cart's lines priced now, at the shopper's prices (products gone from the shop left out).
pub async fn cart(state: &AppState, principal: &Principal, lines: &[(i64, i64)]) -> Result<CartView, AppError> {
    let view = catalogue(state, principal, 0).await?;
    let lines: Vec<CartLineView> = lines
        .iter()
        .filter_map(|&(product_id, quantity)| {
            let product = view.products.iter().find(|p| p.id == product_id)?;
            Some(CartLineView {
                product_id,
                name: product.name.clone(),
                quantity,
                unit_price_cents: product.unit_price_cents,
                amount_cents: product.unit_price_cents * quantity,
            })
        })
        .collect();
    let total_cents = lines.iter().map(|l| l.amount_cents).sum();
    Ok(CartView { shopper: view.shopper, lines, total_cents })
}

/// Places an order of the cart's lines. Prices come from the price list of the moment, never
/// from the client; a refusal while impersonating is audited.
pub async fn place_order(state: &AppState, principal: &Principal, lines: &[(i64, i64)], cart_token: &str) -> Result<Placed, AppError> {
    let shop = shop_of(state, principal).await?;
    let customer = principal.subject();
    let target = format!("for {}", customer.email);
    let entry = principal.audit_if_acting_for_another(AuditAction::OrderPlace, target, Outcome::Allowed, principal.mode_note());
    let refuse = |why: String, error: AppError| {
        let entry = entry.clone();
        async move {
            if let Some(entry) = entry {
                store::audit::append_alone(&state.writer, &entry.denied(&why)).await?;
            }
            Err::<Placed, AppError>(error)
        }
    };
    if let Err(denial) = impersonation::may_change(principal.read_only()) {
        return refuse(denial.message().into(), AppError::Forbidden(denial.message().into())).await;
    }
    let lines = match rules::check_cart(lines) {
        Ok(lines) => lines,
        Err(refusal) => return refuse(refusal.message(), refusal_error(&refusal)).await,
    };
    let (shopper, customer_id) = shopper(state, principal).await?;
    let Some(customer_id) = customer_id else {
        let refusal = OrderRefusal::NotACustomer { name: customer.display_name.clone() };
        return refuse(refusal.message(), refusal_error(&refusal)).await;
    };
    let order = NewOrder {
        tenant_id: shop.tenant_id,
        orders_dataset_id: shop.orders_dataset_id,
        customer_user_id: customer.id,
        customer_id,
        placed_by_user_id: shopper.placed_by.id,
        impersonated_by_user_id: principal.actor().map(|a| a.id),
        impersonation_id: principal.impersonation_id(),
        mode: principal.mode(),
        via: principal.via().label(),
        price_group: shopper.price_group,
        lines,
        cart_token: cart_token.to_string(),
    };
    store::orders::place(&state.writer, order, entry).await?.map_err(|refusal| refusal_error(&refusal))
}

/// The orders the principal sees: an admin all of the tenant's, with the person really behind
/// each; others their own and those they placed, as the mode shows them.
pub async fn orders(state: &AppState, principal: &Principal) -> Result<Vec<OrderView>, AppError> {
    shop_of(state, principal).await?;
    // "Own" orders are the person's acted as; seeing the tenant's is a permission.
    let admin = principal.permissions_user().is_admin;
    let scope = rules::orders_scope(principal.subject().id, admin);
    let mut orders = store::orders::list(&state.db, principal.tenant_id(), scope, ORDERS_SHOWN).await?;
    if !admin {
        for order in &mut orders {
            order.impersonated_by = None;
            order.mode = None;
        }
    }
    Ok(orders)
}

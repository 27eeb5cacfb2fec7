//! Who orders for whom, at whose prices: shown above the shop and the cart, so a sales rep
//! acting on behalf of a customer sees what an order will say before placing it.

use super::person::person;
use crate::model::ShopperView;
use leptos::prelude::*;

#[component]
pub fn ShopperNote(shopper: ShopperView) -> impl IntoView {
    let placed_by_other = shopper.placed_by != shopper.customer;
    let priced_for_other = shopper.priced_for != shopper.customer;
    view! {
        <p class="shopper">
            "Ordering for "{person(&shopper.customer)}
            {placed_by_other.then(|| view! { " · placed by "{person(&shopper.placed_by)} })}
            " · "<strong class="price-group">{shopper.price_group.as_db()}</strong>" prices"
            {priced_for_other.then(|| view! { " (the price group of "{person(&shopper.priced_for)}")" })}
        </p>
        {shopper.cannot_order.map(|why| view! { <p class="notice warn">{why}</p> })}
    }
}

use super::loaded;
use crate::api::shop::{cart_page, PlaceOrder, SetCartLine};
use crate::components::errors::action_error;
use crate::components::shopper::ShopperNote;
use crate::model::{format_money, CartView};
use leptos::prelude::*;

/// The cart, priced by the server at the shopper's prices, with `Place order`.
#[component]
pub fn CartPage() -> impl IntoView {
    let set_line = ServerAction::<SetCartLine>::new();
    let place = ServerAction::<PlaceOrder>::new();
    let cart = Resource::new(move || (set_line.version().get(), place.version().get()), |_| cart_page());
    let page = move |c: CartView| {
        let empty = c.lines.is_empty();
        let can_order = !empty && c.shopper.cannot_order.is_none();
        let rows = c
            .lines
            .into_iter()
            .map(|l| {
                let quantity_id = format!("cart-quantity-{}", l.product_id);
                view! {
                    <tr data-product-id=l.product_id.to_string()>
                        <td class="name">{l.name.clone()}</td>
                        <td>
                            <ActionForm action=set_line>
                                <input type="hidden" name="product_id" value=l.product_id.to_string()/>
                                <label for=quantity_id.clone() class="sr-only">{format!("Quantity of {}", l.name)}</label>
                                <input id=quantity_id type="number" name="quantity" value=l.quantity.to_string() min="0" max="99" required/>
                                <button type="submit">"Update"</button>
                            </ActionForm>
                        </td>
                        <td class="number">{format_money(l.unit_price_cents)}</td>
                        <td class="number amount">{format_money(l.amount_cents)}</td>
                    </tr>
                }
            })
            .collect_view();
        let table = if empty {
            view! { <p class="empty">"The cart is empty. "<a href="/shop">"Back to the shop"</a></p> }.into_any()
        } else {
            view! {
                <table class="cart">
                    <thead><tr><th>"Product"</th><th>"Quantity"</th><th class="number">"Unit price"</th><th class="number">"Amount"</th></tr></thead>
                    <tbody>{rows}</tbody>
                    <tfoot><tr><td colspan="3">"Total"</td><td class="number total">{format_money(c.total_cents)}</td></tr></tfoot>
                </table>
            }
            .into_any()
        };
        view! {
            <ShopperNote shopper=c.shopper/>
            {table}
            <ActionForm action=place>
                <div class="form-actions">
                    <button type="submit" class="primary" disabled=!can_order>"Place order"</button>
                    <a href="/shop">"Continue shopping"</a>
                </div>
            </ActionForm>
        }
    };
    view! {
        <h1>"Cart"</h1>
        {action_error(set_line.value().into())}
        {action_error(place.value().into())}
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(cart.await, page) })}
        </Transition>
    }
}

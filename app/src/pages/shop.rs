use super::loaded;
use crate::api::shop::{shop_page, AddToCart};
use crate::components::errors::action_error;
use crate::components::shopper::ShopperNote;
use crate::model::{format_money, ShopView};
use leptos::prelude::*;

/// The shop: each product at the shopper's price, with `Add to cart`.
#[component]
pub fn ShopPage() -> impl IntoView {
    let add = ServerAction::<AddToCart>::new();
    let shop = Resource::new(move || add.version().get(), |_| shop_page());
    let added = move || add.value().get().and_then(|r| r.ok()).map(|_| view! { <div class="notice" role="status">"Added to the cart."</div> });
    let page = move |s: ShopView| {
        let products = s
            .products
            .into_iter()
            .map(|p| {
                let quantity_id = format!("quantity-{}", p.slug);
                view! {
                    <article class="card product" data-product=p.slug.clone()>
                        <h2>{p.name.clone()}</h2>
                        <p class="price">{format_money(p.unit_price_cents)}</p>
                        <p class="muted stock">{format!("{} in stock", p.stock)}</p>
                        <ActionForm action=add>
                            <input type="hidden" name="product_id" value=p.id.to_string()/>
                            <label for=quantity_id.clone()>"Quantity"</label>
                            <input id=quantity_id type="number" name="quantity" value="1" min="1" max="99" required/>
                            <button type="submit">"Add to cart"</button>
                        </ActionForm>
                    </article>
                }
            })
            .collect_view();
        view! {
            <ShopperNote shopper=s.shopper/>
            <p><a class="cart-link" href="/shop/cart">{format!("Cart ({} item{})", s.items_in_cart, if s.items_in_cart == 1 { "" } else { "s" })}</a></p>
            <div class="products">{products}</div>
        }
    };
    view! {
        <h1>"Shop"</h1>
        {added}
        {action_error(add.value().into())}
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(shop.await, page) })}
        </Transition>
    }
}

use super::loaded;
use crate::api::shop::orders_page;
use crate::components::person::person;
use crate::model::{format_money, format_time, OrderView};
use leptos::prelude::*;

/// Orders: a member's own and those they placed; an admin's tenant, with the person really
/// behind each order placed while impersonating.
#[component]
pub fn OrdersPage() -> impl IntoView {
    let orders = Resource::new(|| (), |_| orders_page());
    let page = |list: Vec<OrderView>| {
        if list.is_empty() {
            return view! { <p class="empty">"No orders yet."</p> }.into_any();
        }
        let rows = list
            .iter()
            .map(|o| {
                let note = o.impersonated_by.as_ref().map(|real| {
                    let text = if real.id == o.placed_by.id {
                        format!("on behalf of {}", o.customer.display_name)
                    } else {
                        format!("impersonated by {}", real.display_name)
                    };
                    view! { " "<span class="impersonation-note muted">{text}</span> }
                });
                view! {
                    <tr data-order=o.order_no.to_string()>
                        <td class="order" title=format_time(o.created_at)>{format!("#{}", o.order_no)}</td>
                        <td class="customer">{person(&o.customer)}</td>
                        <td class="placed-by">{person(&o.placed_by)}{note}</td>
                        <td class="price-group">{o.price_group.as_db()}</td>
                        <td class="number total">{format_money(o.total_cents)}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class="orders">
                <thead><tr><th>"Order"</th><th>"Customer"</th><th>"Placed by"</th><th>"Price group"</th><th class="number">"Total"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <h1>"Orders"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(orders.await, page) })}
        </Transition>
    }
}

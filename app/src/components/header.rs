use super::picker::ImpersonationPicker;
use crate::providers::auth::use_auth;
use leptos::prelude::*;

#[component]
pub fn Header() -> impl IntoView {
    let auth = use_auth();
    // Effects only run in the browser: the flag says the client has taken over the page.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let nav = move || {
        Suspend::new(async move {
            let me = auth.me.await.ok().flatten();
            let signed_in = me.is_some();
            let admin = me.as_ref().is_some_and(|m| m.is_admin);
            view! {
                {signed_in.then(|| view! {
                    <a href="/">"Projects"</a>
                    <a href="/jobs">"Jobs"</a>
                    <a href="/shop">"Shop"</a>
                    <a href="/orders">"Orders"</a>
                    <a href="/account/activity">"My activity"</a>
                })}
                {admin.then(|| view! { <a href="/admin/users">"Administration"</a> })}
            }
        })
    };
    let account = move || {
        Suspend::new(async move {
            match auth.me.await.ok().flatten() {
                Some(me) => view! {
                    <a class="who" href=format!("/users/{}", me.user.id) title=me.user.email.clone()>{me.user.display_name.clone()}</a>
                    <span class="tenant">{me.tenant_name.clone()}</span>
                    <ActionForm action=auth.logout>
                        <button type="submit" class="link">"Log out"</button>
                    </ActionForm>
                }
                .into_any(),
                None => view! { <a href="/login">"Log in"</a> }.into_any(),
            }
        })
    };
    // The picker, for people signed in as themselves.
    let picker = move || {
        Suspend::new(async move {
            let me = auth.me.await.ok().flatten();
            me.filter(|m| m.impersonation.is_none())
                .map(|m| view! { <ImpersonationPicker candidates=m.impersonation_candidates auth/> })
        })
    };
    view! {
        <header class="topbar" data-hydrated=move || hydrated.get().to_string()>
            <a href="/" class="brand">"Guise"</a>
            <nav><Transition fallback=|| ()>{nav}</Transition></nav>
            <div class="account">
                <Transition fallback=|| ()>{account}</Transition>
            </div>
        </header>
        <Transition fallback=|| ()>{picker}</Transition>
    }
}

use crate::providers::auth::use_auth;
use leptos::prelude::*;

#[component]
pub fn Header() -> impl IntoView {
    let auth = use_auth();
    // Effects only run in the browser: the flag says the client has taken over the page.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let signed_in = move || {
        Suspend::new(async move {
            match auth.me.await {
                Ok(Some(me)) => view! {
                    <span class="who" title=me.user.email.clone()>{me.user.display_name.clone()}</span>
                    <span class="tenant">{me.tenant_name.clone()}</span>
                    <ActionForm action=auth.logout>
                        <button type="submit" class="link">"Log out"</button>
                    </ActionForm>
                }
                .into_any(),
                _ => view! { <a href="/login">"Log in"</a> }.into_any(),
            }
        })
    };
    view! {
        <header class="topbar" data-hydrated=move || hydrated.get().to_string()>
            <a href="/" class="brand">"Guise"</a>
            <nav>
                <a href="/">"Projects"</a>
                <a href="/jobs">"Jobs"</a>
            </nav>
            <div class="account">
                <Transition fallback=|| ()>{signed_in}</Transition>
            </div>
        </header>
    }
}

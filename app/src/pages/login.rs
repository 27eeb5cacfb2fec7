use crate::components::errors::action_error;
use crate::providers::auth::use_auth;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = use_auth();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    view! {
        <section class="card narrow">
            <h1>"Log in to Guise"</h1>
            <ActionForm action=auth.login>
                <div class="field">
                    <label for="email">"Email"</label>
                    <input id="email" type="email" name="email" autocomplete="username" required/>
                </div>
                <div class="field">
                    <label for="password">"Password"</label>
                    <input id="password" type="password" name="password" autocomplete="current-password" required/>
                </div>
                <input type="hidden" name="next" value=next/>
                <button type="submit" class="primary">"Log in"</button>
            </ActionForm>
            {action_error(auth.login.value().into())}
        </section>
    }
}

use super::loaded;
use crate::api::webapp::{webapp_settings, SetRunAs};
use crate::components::errors::action_error;
use crate::model::WebappSettingsView;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn WebappSettingsPage() -> impl IntoView {
    let params = use_params_map();
    let ids = move || {
        let p = params.read();
        (p.get("key").unwrap_or_default(), p.get("slug").unwrap_or_default())
    };
    let save = ServerAction::<SetRunAs>::new();
    let settings = Resource::new(move || (ids(), save.version().get()), |((key, slug), _)| webapp_settings(key, slug));
    let saved = move || {
        save.value().get().and_then(|r| r.ok()).map(|_| view! { <div class="notice" role="status">"Saved."</div> })
    };

    let form = move |s: WebappSettingsView| {
        let current = s.webapp.run_as.id;
        let options = s
            .candidates
            .into_iter()
            .map(|u| {
                let label = format!("{} ({})", u.display_name, u.email);
                view! { <option value=u.id.to_string() selected=u.id == current>{label}</option> }
            })
            .collect_view();
        view! {
            <h1>{format!("{} — settings", s.webapp.name)}</h1>
            <p><a href=format!("/projects/{}/webapps/{}", s.webapp.project_key, s.webapp.slug)>"Back to the webapp"</a></p>
            <ActionForm action=save>
                <input type="hidden" name="project" value=s.webapp.project_key.clone()/>
                <input type="hidden" name="webapp" value=s.webapp.slug.clone()/>
                <div class="field">
                    <label for="run-as">"Run backend as"</label>
                    <select id="run-as" name="user_id">{options}</select>
                    <p class="muted">"Jobs the webapp starts outside an impersonation context run as this identity and need its permissions."</p>
                </div>
                <button type="submit" class="primary">"Save"</button>
            </ActionForm>
        }
    };

    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(settings.await, form) })}
        </Transition>
        {saved}
        {action_error(save.value().into())}
    }
}

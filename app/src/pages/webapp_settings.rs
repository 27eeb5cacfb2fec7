use super::loaded;
use crate::api::webapp::{webapp_settings, RotateBackendCredentials, SetRunAs, SetWebappScopes};
use crate::components::errors::action_error;
use crate::model::{format_time, BackendView, WebappSettingsView, WEBAPP_SCOPES};
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
    let save_scopes = ServerAction::<SetWebappScopes>::new();
    let rotate = ServerAction::<RotateBackendCredentials>::new();
    let settings = Resource::new(
        move || (ids(), save.version().get(), save_scopes.version().get(), rotate.version().get()),
        |((key, slug), _, _, _)| webapp_settings(key, slug),
    );
    let saved = move || {
        let any_saved = [save.value().get().map(|r| r.is_ok()), save_scopes.value().get().map(|r| r.is_ok())].into_iter().flatten().any(|ok| ok);
        any_saved.then(|| view! { <div class="notice" role="status">"Saved."</div> })
    };
    let rotated = move || {
        rotate.value().get().and_then(|r| r.ok()).map(|_| view! { <div class="notice" role="status">"New backend credentials: the backend restarts with them."</div> })
    };

    let form = move |s: WebappSettingsView| {
        let code_section = code_settings(&s, save_scopes, rotate);
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
            {code_section}
        }
    };

    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(settings.await, form) })}
        </Transition>
        {saved}
        {rotated}
        {action_error(save.value().into())}
        {action_error(save_scopes.value().into())}
        {action_error(rotate.value().into())}
    }
}

/// A code webapp's scopes, backend and credentials.
fn code_settings(s: &WebappSettingsView, save_scopes: ServerAction<SetWebappScopes>, rotate: ServerAction<RotateBackendCredentials>) -> Option<impl IntoView> {
    let code = s.webapp.code.clone()?;
    let (project, slug) = (s.webapp.project_key.clone(), s.webapp.slug.clone());
    let (project_again, slug_again) = (project.clone(), slug.clone());
    let checks = WEBAPP_SCOPES
        .iter()
        .map(|(scope, meaning)| {
            let name = if *scope == "datasets:read" { "read" } else { "build" };
            let checked = code.scopes.iter().any(|s| s == scope);
            view! {
                <label class="check">
                    <input type="checkbox" name=name checked=checked/>
                    <code>{*scope}</code>" — "{*meaning}
                </label>
            }
        })
        .collect_view();
    Some(view! {
        <h2>"Scopes"</h2>
        <ActionForm action=save_scopes>
            <input type="hidden" name="project" value=project/>
            <input type="hidden" name="webapp" value=slug/>
            <p class="muted">"What the backend may do on behalf of the people using the webapp. Taking a scope away applies to the tokens it already holds."</p>
            <div class="scope-choices">{checks}</div>
            <button type="submit" class="primary">"Save scopes"</button>
        </ActionForm>
        <h2>"Backend"</h2>
        {backend_status(s.backend.clone())}
        <ActionForm action=rotate>
            <input type="hidden" name="project" value=project_again/>
            <input type="hidden" name="webapp" value=slug_again/>
            <button type="submit">"Rotate backend credentials"</button>
        </ActionForm>
    })
}

/// What the backend is doing on this server, and the last lines it printed (secrets hidden).
fn backend_status(backend: Option<BackendView>) -> impl IntoView {
    let Some(b) = backend else {
        return view! { <p class="muted backend-status">"Not started on this server yet: it starts within a few seconds."</p> }.into_any();
    };
    let since = b.since.map(|at| format!(" since {}", format_time(at))).unwrap_or_default();
    let pid = b.pid.map(|pid| format!(" (process {pid})")).unwrap_or_default();
    let exit = b.last_exit.clone().map(|e| format!(" · last exit: {e}")).unwrap_or_default();
    let log = if b.log.is_empty() {
        "(nothing printed yet)".to_string()
    } else {
        b.log.iter().map(|l| format!("{} {:<6} {}", format_time(l.at), l.stream, l.text)).collect::<Vec<_>>().join("\n")
    };
    view! {
        <p class="backend-status">
            <span class=format!("badge status-{}", b.status.to_lowercase())>{b.status.clone()}</span>
            {format!("{since}{pid} · restarts: {}{exit}", b.restarts)}
        </p>
        <h3>"Recent backend log"</h3>
        <pre class="backend-log">{log}</pre>
    }
    .into_any()
}

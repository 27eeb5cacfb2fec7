use super::loaded;
use crate::api::api_clients::{list_api_clients, CreateApiClient, RevokeApiClient, RotateApiClient};
use crate::components::admin_nav::AdminNav;
use crate::components::errors::action_error;
use crate::model::{format_time, ApiClientView, ClientSecret};
use leptos::prelude::*;

/// Administration → API clients: credentials for programs that call the /v2 API, and may
/// impersonate users there under the same rules as their owner.
#[component]
pub fn AdminApiClientsPage() -> impl IntoView {
    let create = ServerAction::<CreateApiClient>::new();
    let rotate = ServerAction::<RotateApiClient>::new();
    let revoke = ServerAction::<RevokeApiClient>::new();
    let clients = Resource::new(
        move || (create.version().get(), rotate.version().get(), revoke.version().get()),
        |_| list_api_clients(),
    );
    // The secret from the latest create or rotate: shown once, gone on the next action.
    let shown = RwSignal::new(None::<ClientSecret>);
    let name_input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move || {
        let created = create.value().get().and_then(Result::ok);
        if let (Some(_), Some(input)) = (&created, name_input.get()) {
            input.set_value("");
        }
        shown.set(created);
    });
    Effect::new(move || {
        if let Some(result) = rotate.value().get() {
            shown.set(result.ok());
        }
    });
    Effect::new(move || {
        if revoke.value().get().is_some() {
            shown.set(None);
        }
    });
    let page = move |list: Vec<ApiClientView>| {
        if list.is_empty() {
            return view! { <p class="empty">"No API clients yet."</p> }.into_any();
        }
        let rows = list
            .into_iter()
            .map(|c| {
                let active = c.revoked_at.is_none();
                let id = c.client_id.clone();
                // Only the owner may obtain a secret; any admin may revoke.
                let yours = c.yours;
                let actions = active.then(|| {
                    let id2 = id.clone();
                    view! {
                        {yours.then(|| view! {
                            <ActionForm action=rotate>
                                <input type="hidden" name="client_id" value=id.clone()/>
                                <button type="submit">"Rotate secret"</button>
                            </ActionForm>
                        })}
                        <ActionForm action=revoke>
                            <input type="hidden" name="client_id" value=id2/>
                            <button type="submit" class="danger">"Revoke"</button>
                        </ActionForm>
                    }
                });
                let (status, since) = match c.revoked_at {
                    Some(at) => ("Revoked", format!("since {}", format_time(at))),
                    None => ("Active", String::new()),
                };
                view! {
                    <tr class:revoked=!active>
                        <td><code>{c.client_id}</code></td>
                        <td>{c.name}</td>
                        <td title=c.owner.email.clone()>{c.owner.display_name}</td>
                        <td>{c.subject_policy}</td>
                        <td class="muted">{format_time(c.created_at)}</td>
                        <td class="muted">{c.last_used_at.map(format_time).unwrap_or_else(|| "never".into())}</td>
                        <td title=since>{status}</td>
                        <td><div class="row-actions">{actions}</div></td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class="clients">
                <thead>
                    <tr>
                        <th>"Client id"</th>
                        <th>"Name"</th>
                        <th>"Owner"</th>
                        <th>"Subject tokens"</th>
                        <th>"Created"</th>
                        <th>"Last used"</th>
                        <th>"Status"</th>
                        <th></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <h1>"Administration — API clients"</h1>
        <AdminNav/>
        <section class="card">
            <h2>"Create a client"</h2>
            <ActionForm action=create>
                <div class="client-form">
                    <label for="client-name">"Name"</label>
                    <input id="client-name" node_ref=name_input type="text" name="name" required maxlength="100" placeholder="Nightly reports"/>
                    <label for="client-policy">"Subject tokens"</label>
                    <select id="client-policy" name="policy">
                        <option value="strict" selected>"strict: exp ≤ 5 min, iat, single-use jti"</option>
                        <option value="compatible">"compatible: sub (and tenant) is enough"</option>
                    </select>
                    <button type="submit" class="primary">"Create client"</button>
                </div>
            </ActionForm>
            <p class="muted">
                "You own the clients you create: through the API they may impersonate exactly whom you may. "
                "Tokens: " <code>"POST /v2/auth/token"</code> " — the API is described at "
                <a href="/v2/openapi.json">"/v2/openapi.json"</a> "."
            </p>
        </section>
        {move || shown.get().map(|s| view! {
            <section class="card secret" role="status">
                <h2>{format!("Secret of {}", s.name)}</h2>
                <p>"Copy it now: it is shown only once and stored only encrypted."</p>
                <dl>
                    <dt>"client_id"</dt><dd><code data-testid="client-id">{s.client_id}</code></dd>
                    <dt>"client_secret"</dt><dd><code data-testid="client-secret">{s.secret}</code></dd>
                </dl>
            </section>
        })}
        {action_error(create.value().into())}
        {action_error(rotate.value().into())}
        {action_error(revoke.value().into())}
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(clients.await, page) })}
        </Transition>
    }
}

use super::loaded;
use crate::api::admin::{load_grants, AddGrant, RemoveGrant, SetGrantMode};
use crate::components::admin_nav::AdminNav;
use crate::components::errors::action_error;
use crate::components::mode_fields::ModeFields;
use crate::model::{format_time, GrantsPage, ImpersonationMode};
use leptos::prelude::*;

/// Administration → Grants: who may impersonate whom besides admins.
#[component]
pub fn AdminGrantsPage() -> impl IntoView {
    let add = ServerAction::<AddGrant>::new();
    let remove = ServerAction::<RemoveGrant>::new();
    let set_mode = ServerAction::<SetGrantMode>::new();
    let grants =
        Resource::new(move || (add.version().get(), remove.version().get(), set_mode.version().get()), |_| load_grants());
    let page = move |GrantsPage { grants, parties }: GrantsPage| {
        let options = move || {
            parties
                .iter()
                .map(|party| view! { <option value=party.form_value()>{party.label()}</option> })
                .collect_view()
        };
        let no_grants = grants.is_empty();
        let rows = grants
            .into_iter()
            .map(|g| {
                view! {
                    <tr data-grant=g.id.to_string()>
                        <td>{g.actor.label()}</td>
                        <td class="muted">"may impersonate"</td>
                        <td>{g.subject.label()}</td>
                        <td class="grant-mode">{g.mode.label()}</td>
                        <td>
                            <ActionForm action=set_mode>
                                <div class="grant-form">
                                    <input type="hidden" name="id" value=g.id.to_string()/>
                                    <ModeFields allowed=ImpersonationMode::ALL.to_vec() chosen=g.mode id=format!("grant-mode-{}", g.id)/>
                                    <button type="submit">"Save"</button>
                                </div>
                            </ActionForm>
                        </td>
                        <td class="muted">{format!("by {} · {}", g.created_by.display_name, format_time(g.created_at))}</td>
                        <td>
                            <ActionForm action=remove>
                                <input type="hidden" name="id" value=g.id.to_string()/>
                                <button type="submit">"Remove"</button>
                            </ActionForm>
                        </td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <section class="card">
                <h2>"Add a grant"</h2>
                <ActionForm action=add>
                    <div class="grant-form">
                        <label for="grant-actor">"Who"</label>
                        <select id="grant-actor" name="actor">{options()}</select>
                        <span class="muted">"may impersonate"</span>
                        <label for="grant-subject" class="sr-only">"Whom"</label>
                        <select id="grant-subject" name="subject">{options()}</select>
                        <ModeFields allowed=ImpersonationMode::ALL.to_vec() chosen=ImpersonationMode::OnBehalfOf id="grant-mode".to_string()/>
                        <button type="submit" class="primary">"Add grant"</button>
                    </div>
                </ActionForm>
                <p class="muted">"On behalf of: the impersonator acts with the user's permissions but orders at their own prices and comments as themselves. Full: everything as the user; with the impersonator's permissions, everything but permissions."</p>
                <p class="muted">"Grants never reach administrators, service accounts, disabled users or other tenants, even through a group."</p>
            </section>
            {if no_grants {
                view! { <p class="empty">"No grants: only administrators may impersonate."</p> }.into_any()
            } else {
                view! { <table class="grants"><tbody>{rows}</tbody></table> }.into_any()
            }}
        }
    };
    view! {
        <h1>"Administration — Grants"</h1>
        <AdminNav/>
        {action_error(add.value().into())}
        {action_error(remove.value().into())}
        {action_error(set_mode.value().into())}
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(grants.await, page) })}
        </Transition>
    }
}

use super::loaded;
use crate::api::admin::{load_audit, VerifyAuditChain};
use crate::components::admin_nav::AdminNav;
use crate::components::errors::action_error;
use crate::components::person::Person;
use crate::model::{format_time, AuditPage};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Administration → Audit: filter by actor, subject, action and days; verify the chain.
#[component]
pub fn AdminAuditPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |key: &str| query.read().get(key).filter(|v| !v.is_empty());
    let filters = move || (param("actor"), param("subject"), param("action"), param("from"), param("to"));
    let audit = Resource::new(filters, |(actor, subject, action, from, to)| load_audit(actor, subject, action, from, to));
    let verify = ServerAction::<VerifyAuditChain>::new();
    let report = move || {
        verify.value().get().and_then(|r| r.ok()).map(|r| {
            let class = if r.intact { "notice" } else { "error" };
            view! { <div class=class role="status">{r.message}</div> }
        })
    };

    let page = move |p: AuditPage| {
        let selected = move |key: &str| param(key).unwrap_or_default();
        let people = |key: &'static str| {
            let current = selected(key);
            p.people
                .iter()
                .map(|u| {
                    let value = u.id.to_string();
                    let is = value == current;
                    view! { <option value=value selected=is>{u.display_name.clone()}</option> }
                })
                .collect_view()
        };
        let current_action = selected("action");
        let actions = p
            .actions
            .iter()
            .map(|a| view! { <option value=a.clone() selected=*a == current_action>{a.clone()}</option> })
            .collect_view();
        let rows = p
            .rows
            .into_iter()
            .map(|a| view! {
                <tr class=format!("outcome-{}", a.outcome)>
                    <td class="num">{a.id}</td>
                    <td class="time">{format_time(a.at)}</td>
                    <td><Person user=a.actor.clone()/></td>
                    <td>{a.subject.clone().map(|s| view! { <Person user=s/> })}</td>
                    <td><code>{a.action.clone()}</code></td>
                    <td>{a.target.clone()}</td>
                    <td>{a.outcome.clone()}</td>
                    <td>{a.reason.clone()}</td>
                    <td>{a.via.clone()}</td>
                </tr>
            })
            .collect_view();
        view! {
            <form method="get" action="/admin/audit" class="filters">
                <label>"Actor"<select name="actor"><option value="">"anyone"</option>{people("actor")}</select></label>
                <label>"Subject"<select name="subject"><option value="">"anyone"</option>{people("subject")}</select></label>
                <label>"Action"<select name="action"><option value="">"any"</option>{actions}</select></label>
                <label>"From"<input type="date" name="from" value=selected("from")/></label>
                <label>"To"<input type="date" name="to" value=selected("to")/></label>
                <button type="submit">"Filter"</button>
                <a href="/admin/audit">"Clear"</a>
            </form>
            <div class="scroll">
                <table class="audit">
                    <thead><tr>
                        <th>"#"</th><th>"When (UTC)"</th><th>"Actor"</th><th>"Subject"</th><th>"Action"</th>
                        <th>"Target"</th><th>"Outcome"</th><th>"Reason"</th><th>"Via"</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
    };

    view! {
        <div class="title-row">
            <h1>"Administration — Audit"</h1>
            <ActionForm action=verify>
                <button type="submit">"Verify chain"</button>
            </ActionForm>
        </div>
        <AdminNav/>
        {report}
        {action_error(verify.value().into())}
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(audit.await, page) })}
        </Transition>
    }
}

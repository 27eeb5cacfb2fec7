use super::loaded;
use crate::api::impersonation::my_activity;
use crate::components::person::Person;
use crate::model::{format_duration, format_time, ImpersonationRecordView};
use leptos::prelude::*;

/// My account → Activity: who impersonated me, when, for how long, why, and what they did.
#[component]
pub fn ActivityPage() -> impl IntoView {
    let records = Resource::new(|| (), |_| my_activity());
    let page = |list: Vec<ImpersonationRecordView>| {
        if list.is_empty() {
            return view! { <p class="empty">"Nobody has impersonated your account."</p> }.into_any();
        }
        list.into_iter()
            .map(|r| {
                // An API impersonation lasts as long as its token: it has no Stop.
                let by_api = r.via != "UI";
                let lasted = match r.ended_at {
                    Some(end) => format_duration(end - r.started_at),
                    None if by_api => format!("a token valid {}", format_duration(r.expires_at - r.started_at)),
                    None => "ongoing".into(),
                };
                let ended = match (&r.end_reason, by_api) {
                    (Some(why), _) => why.clone(),
                    (None, true) => format!("when the token expires ({})", format_time(r.expires_at)),
                    (None, false) => "not yet".into(),
                };
                let through = by_api.then(|| format!(" through {}", r.via));
                let actions = r
                    .actions
                    .iter()
                    .rev()
                    .map(|a| view! {
                        <li><span class="time">{format_time(a.at)}</span>" "{a.action.clone()}" · "{a.target.clone()}" · "{a.outcome.clone()}</li>
                    })
                    .collect_view();
                view! {
                    <section class="card activity">
                        <h2><Person user=r.actor.clone()/>" impersonated you"{through}</h2>
                        <dl class="facts">
                            <dt>"When (UTC)"</dt><dd>{format_time(r.started_at)}</dd>
                            <dt>"How long"</dt><dd>{lasted}</dd>
                            <dt>"Why"</dt><dd>{r.reason.clone()}</dd>
                            <dt>"Mode"</dt><dd>{r.mode.label()}{r.read_only.then_some(", read-only")}</dd>
                            <dt>"Ended"</dt><dd>{ended}</dd>
                        </dl>
                        <h3>"What was done"</h3>
                        <ul class="actions-done">{actions}</ul>
                    </section>
                }
            })
            .collect_view()
            .into_any()
    };
    view! {
        <h1>"My activity"</h1>
        <p class="muted">"Every time someone acted as you."</p>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(records.await, page) })}
        </Transition>
    }
}

use super::loaded;
use crate::api::admin::groups_page;
use crate::components::admin_nav::AdminNav;
use crate::components::impersonate_button::ImpersonateButton;
use crate::components::person::Person;
use crate::model::GroupView;
use crate::providers::auth::use_auth;
use leptos::prelude::*;

/// Administration → Groups: members, each with `Impersonate user` where allowed.
#[component]
pub fn AdminGroupsPage() -> impl IntoView {
    let auth = use_auth();
    let groups = Resource::new(move || auth.identity_version(), |_| groups_page());
    let page = |list: Vec<GroupView>| {
        list.into_iter()
            .map(|g| {
                let members = g
                    .members
                    .into_iter()
                    .map(|e| {
                        view! {
                            <tr data-user=e.user.email.clone()>
                                <td><a href=format!("/users/{}", e.user.id)><Person user=e.user.clone()/></a></td>
                                <td>{e.user.email.clone()}</td>
                                <td>{e.role.clone()}</td>
                                <td class="actions"><ImpersonateButton entry=e.clone()/></td>
                            </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <section class="group">
                        <h2>{g.name.clone()}</h2>
                        <table class="users"><tbody>{members}</tbody></table>
                    </section>
                }
            })
            .collect_view()
    };
    view! {
        <h1>"Administration — Groups"</h1>
        <AdminNav/>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(groups.await, page) })}
        </Transition>
    }
}

//! The yellow banner shown on every page while impersonating.

use crate::model::{format_countdown, ImpersonationView, SessionView};
use crate::providers::auth::{use_auth, AuthContext};
use leptos::prelude::*;

#[component]
pub fn ImpersonationBanner() -> impl IntoView {
    let auth = use_auth();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match auth.me.await {
                    Ok(Some(SessionView { impersonation: Some(imp), server_now, .. })) => {
                        view! { <Banner imp server_now auth/> }.into_any()
                    }
                    _ => ().into_any(),
                }
            })}
        </Transition>
    }
}

/// `auth` comes from the parent: this renders after an await, where context is best not looked up.
#[component]
fn Banner(imp: ImpersonationView, server_now: i64, auth: AuthContext) -> impl IntoView {
    // Counted down from the server's clock, so a wrong clock in the browser does not matter.
    let left = RwSignal::new(imp.expires_at - server_now);
    #[cfg(feature = "hydrate")]
    {
        if let Ok(handle) =
            set_interval_with_handle(move || left.update(|ms| *ms -= 1000), std::time::Duration::from_secs(1))
        {
            on_cleanup(move || handle.clear());
        }
        // At the limit the server has ended it: reload who I am, which removes the banner.
        Effect::new(move |_| {
            if left.get() <= 0 {
                auth.me.refetch();
            }
        });
    }
    let who = format!("{} {} ({})", imp.mode.banner_prefix(), imp.subject.display_name, imp.subject.email);
    view! {
        <aside class="impersonation-banner" aria-label="Impersonation">
            <div class="banner-main">
                <strong class="banner-who">{who}</strong>
                <span class="badge mode" data-mode=imp.mode.as_db()>{imp.mode.label()}</span>
                {imp.read_only.then(|| view! { <span class="badge">"read-only"</span> })}
                <span class="banner-left">{move || format!("{} left", format_countdown(left.get()))}</span>
            </div>
            <div class="banner-detail">
                <span>{format!("Signed in as {} · reason: {}", imp.actor.display_name, imp.reason)}</span>
                <ActionForm action=auth.stop>
                    <button type="submit" class="stop">"Stop Impersonation"</button>
                </ActionForm>
            </div>
        </aside>
    }
}

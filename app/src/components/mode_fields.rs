//! The mode fields of a grant or of a start: `Mode` (`On behalf of` or `Full`) and the checkbox
//! `Use impersonator's permissions`, which turns Full into its variant.

use crate::model::ImpersonationMode;
use leptos::prelude::*;

/// The mode a select shows for `mode`: the variant is Full with the checkbox ticked.
fn select_mode(mode: ImpersonationMode) -> ImpersonationMode {
    match mode {
        ImpersonationMode::FullImpersonatorPermissions => ImpersonationMode::Full,
        other => other,
    }
}

/// Offers the `allowed` modes (least powerful first) with `chosen` selected; `id` names the
/// select for its label. The checkbox shows only when the variant is allowed.
#[component]
pub fn ModeFields(allowed: Vec<ImpersonationMode>, chosen: ImpersonationMode, id: String) -> impl IntoView {
    let mut choices: Vec<ImpersonationMode> = allowed.iter().copied().map(select_mode).collect();
    choices.dedup();
    // The checkbox applies to Full only: choosing another mode unticks it.
    let flag_box = NodeRef::<leptos::html::Input>::new();
    let options = choices
        .into_iter()
        .map(|mode| view! { <option value=mode.as_db() selected=select_mode(chosen) == mode>{mode.label()}</option> })
        .collect_view();
    let flag = allowed.contains(&ImpersonationMode::FullImpersonatorPermissions).then(|| {
        let ticked = chosen == ImpersonationMode::FullImpersonatorPermissions;
        view! {
            <label class="check">
                <input type="checkbox" name="use_impersonator_permissions" checked=ticked node_ref=flag_box/>
                "Use impersonator's permissions"
            </label>
        }
    });
    let on_change = move |ev| {
        if ImpersonationMode::from_db(&event_target_value(&ev)) != Some(ImpersonationMode::Full) {
            if let Some(input) = flag_box.get() {
                input.set_checked(false);
            }
        }
    };
    view! {
        <span class="mode-fields">
            <label for=id.clone()>"Mode"</label>
            <select id=id name="mode" on:change=on_change>{options}</select>
            {flag}
        </span>
    }
}

//! A dataset's first rows.

use crate::model::DatasetPreview;
use leptos::prelude::*;

pub fn preview_view(p: DatasetPreview) -> impl IntoView {
    let header = p.columns.iter().map(|c| view! { <th>{c.clone()}</th> }).collect_view();
    let shown = p.rows.len();
    let columns = p.columns;
    let masked = p.masked;
    let rows = p
        .rows
        .into_iter()
        .map(|r| {
            let cells = r
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    let column = columns.get(i).cloned().unwrap_or_default();
                    let class = if masked.contains(&column) { "masked" } else { "" };
                    view! { <td title=c.clone() data-column=column class=class>{c.clone()}</td> }
                })
                .collect_view();
            view! { <tr>{cells}</tr> }
        })
        .collect_view();
    view! {
        <section class="preview">
            <h2>{format!("Preview of {}", p.name)}</h2>
            <p class="muted">{format!("First {shown} of {} rows", p.total_rows)}</p>
            {p.note.map(|note| view! { <p class="notice row-note">{note}</p> })}
            <div class="scroll">
                <table class="data"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>
            </div>
        </section>
    }
}

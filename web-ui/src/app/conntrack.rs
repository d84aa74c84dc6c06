//! The conntrack table, like `conntrack -L`, or as the exact `/proc/net/nf_conntrack`
//! text; with the table's fill level, what the last step changed and removed, and the
//! pending expectations of helpers.

use std::rc::Rc;

use yew::prelude::*;

use super::state::{Action, AppState};
use crate::view::{fmt_time, tuple_text, Change, CtRow, TableView};

#[derive(Properties, PartialEq)]
pub struct ConntrackProps {
    pub table: Rc<TableView>,
    pub clock_ms: u64,
    pub show_raw: bool,
    pub dispatch: UseReducerDispatcher<AppState>,
}

#[function_component(ConntrackPanel)]
pub fn conntrack_panel(p: &ConntrackProps) -> Html {
    let t = &p.table;
    let on_toggle = {
        let d = p.dispatch.clone();
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            d.dispatch(Action::ShowRaw(input.checked()));
        })
    };
    let len = t.rows.len();
    let percent = if t.max > 0 {
        (len as f64 * 100.0 / f64::from(t.max)).round() as u64
    } else {
        0
    };
    html! {
        <div class="conntrack">
            <div class="table-toolbar">
                <div class="gauge">
                    <label for="ct-gauge">
                        { format!("{len} of {} entries ({percent} %)", t.max) }
                    </label>
                    <meter id="ct-gauge" data-testid="ct-gauge" min="0" max={t.max.to_string()}
                        value={len.to_string()} low={(f64::from(t.max) * 0.75).to_string()}
                        high={(f64::from(t.max) * 0.95).to_string()} />
                    <span class="muted stats">
                        { format!("early drops {} · table-full drops {} · invalid {}",
                            t.stats.early_drop, t.stats.drop, t.stats.invalid) }
                    </span>
                </div>
                <label class="inline">
                    <input type="checkbox" data-testid="ct-raw-toggle" checked={p.show_raw} onchange={on_toggle} />
                    <span>{ "Show /proc/net/nf_conntrack" }</span>
                </label>
            </div>
            <p class="muted">{ format!("As of {} on the engine clock.", fmt_time(p.clock_ms)) }</p>
            // A grid of rows rather than a <table>: every row is its own layout box, so
            // the browser skips rows scrolled out of view (content-visibility) and a
            // table of thousands of entries stays quick to update.
            <div class="ct-scroll" hidden={p.show_raw}>
                <div class="ct-table" role="table" aria-label="Connection tracking entries"
                    aria-rowcount={(t.rows.len() + 1).to_string()}>
                    <div class="ct-row ct-head" role="row">
                        <span role="columnheader">{ "proto" }</span>
                        <span role="columnheader" title="seconds left">{ "timeout" }</span>
                        <span role="columnheader">{ "state" }</span>
                        <span role="columnheader">{ "original" }</span>
                        <span role="columnheader">{ "reply" }</span>
                        <span role="columnheader">{ "flags" }</span>
                    </div>
                    // The rows are the group's only children, so Yew's keyed diff sees
                    // one list and moves, adds or removes just the rows that changed.
                    <div role="rowgroup">
                        { for t.rows.iter().map(|row| html! { <Row key={row.id} row={row.clone()} /> }) }
                    </div>
                </div>
                if t.rows.is_empty() {
                    <p class="empty">{ "No connections tracked." }</p>
                }
            </div>
            // Exactly /proc/net/nf_conntrack, always in the page; shown on request.
            <pre data-testid="ct-raw" class="proc" hidden={!p.show_raw}
                aria-label="/proc/net/nf_conntrack" tabindex={p.show_raw.then_some("0")}>
                { t.raw.clone() }
            </pre>
            if p.show_raw && t.raw.is_empty() {
                <p class="muted">{ "/proc/net/nf_conntrack is empty." }</p>
            }
            if !t.removed.is_empty() {
                <div class="removed">
                    <h3>{ "Removed by the last step" }</h3>
                    <ul>
                        { for t.removed.iter().map(|line| html! { <li><code>{ format!("[DESTROY] {line}") }</code></li> }) }
                    </ul>
                </div>
            }
            if !t.expectations.is_empty() {
                <div class="expectations">
                    <h3>{ "Expected connections (/proc/net/nf_conntrack_expect)" }</h3>
                    <ul>
                        { for t.expectations.iter().map(|line| html! { <li><code>{ line.clone() }</code></li> }) }
                    </ul>
                </div>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct RowProps {
    row: Rc<CtRow>,
}

/// One entry. Rows only re-render when what they show changed.
#[function_component(Row)]
fn row(p: &RowProps) -> Html {
    let r = &p.row;
    let flags = r.flags();
    let change = match r.change {
        Some(Change::New) => Some(("new", "new")),
        Some(Change::Updated) => Some(("changed", "changed")),
        None => None,
    };
    html! {
        <div data-testid="ct-entry" role="row"
            data-proto={r.proto}
            data-state={r.state.unwrap_or_default()}
            data-flags={flags}
            data-timeout={r.timeout.to_string()}
            class={classes!("ct-row", change.map(|(c, _)| c))}>
            <span role="cell">{ r.proto }</span>
            <span role="cell" class="num">{ r.timeout }</span>
            <span role="cell">
                if let Some(state) = r.state {
                    <span class="badge state">{ state }</span>
                }
            </span>
            <span role="cell"><code>{ tuple_text(&r.original) }</code></span>
            <span role="cell"><code>{ tuple_text(&r.reply) }</code></span>
            <span role="cell">
                if r.unreplied {
                    <span class="badge unreplied">{ "[UNREPLIED]" }</span>
                }
                if r.assured {
                    <span class="badge assured">{ "[ASSURED]" }</span>
                }
                if let Some((_, text)) = change {
                    <span class="badge change">{ text }</span>
                }
            </span>
        </div>
    }
}

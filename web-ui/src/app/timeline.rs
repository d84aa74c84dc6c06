//! The timeline: every event of the scenario around the current position, applied ones
//! with their verdict. Choosing an applied event explains it; choosing a later one
//! steps up to it.

use std::rc::Rc;

use yew::prelude::*;

use super::state::{Action, AppState};
use crate::view::{fmt_time, TimelineItem};

#[derive(Properties, PartialEq)]
pub struct TimelineProps {
    pub items: Rc<Vec<TimelineItem>>,
    pub cursor: usize,
    pub len: usize,
    pub explained: Option<usize>,
    pub dispatch: UseReducerDispatcher<AppState>,
}

#[function_component(Timeline)]
pub fn timeline(p: &TimelineProps) -> Html {
    if p.len == 0 {
        return html! {
            <p class="muted">{ "The timeline is empty: craft a packet or import a capture." }</p>
        };
    }
    let first = p.items.first().map_or(0, |i| i.index);
    let last = p.items.last().map_or(0, |i| i.index + 1);
    html! {
        <div class="timeline">
            if first > 0 {
                <p class="muted">{ format!("… {first} earlier events") }</p>
            }
            <ol start={(first + 1).to_string()} aria-label="Events">
                { for p.items.iter().map(|item| html! {
                    <TimelineRow
                        key={item.index}
                        item={item.clone()}
                        next={item.index == p.cursor}
                        explained={p.explained == Some(item.index)}
                        dispatch={p.dispatch.clone()}
                    />
                }) }
            </ol>
            if last < p.len {
                <p class="muted">{ format!("… {} later events", p.len - last) }</p>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct RowProps {
    item: TimelineItem,
    /// The event the next step applies.
    next: bool,
    explained: bool,
    dispatch: UseReducerDispatcher<AppState>,
}

#[function_component(TimelineRow)]
fn timeline_row(p: &RowProps) -> Html {
    let item = &p.item;
    let onclick = {
        let d = p.dispatch.clone();
        let (index, applied) = (item.index, item.applied);
        Callback::from(move |_: MouseEvent| {
            d.dispatch(if applied {
                Action::Select(index)
            } else {
                Action::Seek(index + 1)
            })
        })
    };
    let direction = match item.from {
        Some(wasmwall::Iface::Lan) => "lan →",
        Some(wasmwall::Iface::Wan) => "← wan",
        None => "clock",
    };
    let action_hint = if item.applied {
        "explain this event"
    } else {
        "step up to this event"
    };
    html! {
        <li class={classes!(
                "event",
                (!item.applied).then_some("pending"),
                p.next.then_some("next"),
                p.explained.then_some("explained"),
            )}
            aria-current={p.next.then_some("step")}>
            <button type="button" class="event-button" {onclick}
                aria-label={format!("Event {}: {}, {action_hint}", item.index + 1, item.summary)}
                aria-pressed={p.explained.to_string()}>
                <span class="event-time">{ fmt_time(item.at_ms) }</span>
                <span class="event-dir">{ direction }</span>
                <code class="event-summary">{ item.summary.clone() }</code>
                if let Some((verdict, ctstate)) = item.verdict {
                    <span class={classes!("badge", verdict.to_ascii_lowercase())}>{ verdict }</span>
                    <span class="badge ctstate">{ ctstate }</span>
                    if !item.state_after.is_empty() && item.state_after != ctstate {
                        <span class="badge state">{ item.state_after.clone() }</span>
                    }
                } else if p.next {
                    <span class="badge next-badge">{ "next" }</span>
                }
            </button>
            if !item.note.is_empty() {
                <p class="event-note">{ item.note.clone() }</p>
            }
        </li>
    }
}

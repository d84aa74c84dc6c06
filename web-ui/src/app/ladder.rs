//! The flow diagram: a ladder (sequence) diagram with the LAN hosts on the left, the
//! router in the middle and the WAN hosts on the right. Each packet is an arrow from the
//! side it enters labelled with its flags; a forwarded packet crosses the router and is
//! labelled with the conntrack state after it, a dropped one ends at the router with a
//! cross, a rejected one is answered back. Events not applied yet are drawn faint.

use std::rc::Rc;

use wasmwall::Iface;
use yew::prelude::*;

use super::state::{Action, AppState};
use crate::view::{fmt_time, TimelineItem};

const WIDTH: i32 = 780;
const LAN_X: i32 = 170;
const FW_X: i32 = 450;
const WAN_X: i32 = 720;
const TOP: i32 = 58;
const ROW: i32 = 36;

#[derive(Properties, PartialEq)]
pub struct LadderProps {
    pub items: Rc<Vec<TimelineItem>>,
    pub explained: Option<usize>,
    pub dispatch: UseReducerDispatcher<AppState>,
}

#[function_component(Ladder)]
pub fn ladder(p: &LadderProps) -> Html {
    if p.items.is_empty() {
        return html! { <p class="muted">{ "No packets yet." }</p> };
    }
    let height = TOP + ROW * p.items.len() as i32 + 12;
    let applied = p.items.iter().filter(|i| i.applied).count();
    let summary = format!(
        "Sequence diagram of {} events ({applied} applied) between the LAN, the router and the WAN. \
         The timeline above lists the same events as text.",
        p.items.len()
    );
    html! {
        <div class="ladder-wrap">
            <svg class="ladder" viewBox={format!("0 0 {WIDTH} {height}")} role="img"
                aria-label={summary} preserveAspectRatio="xMidYMin meet">
                <defs>
                    <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5"
                        markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                        <path d="M 0 0 L 10 5 L 0 10 z" class="arrow-head" />
                    </marker>
                </defs>
                { lane(LAN_X, "LAN hosts", "192.168.1.0/24", height) }
                { lane(FW_X, "router (wasmwall)", "lan ⇄ wan", height) }
                { lane(WAN_X, "WAN hosts", "the internet", height) }
                // Alone in their group, so that Yew matches the arrows by key.
                <g class="flows">
                    { for p.items.iter().enumerate().map(|(row, item)| html! {
                        <Arrow
                            key={item.index}
                            item={item.clone()}
                            y={TOP + ROW * row as i32 + ROW / 2}
                            explained={p.explained == Some(item.index)}
                            dispatch={p.dispatch.clone()}
                        />
                    }) }
                </g>
            </svg>
        </div>
    }
}

fn lane(x: i32, name: &str, detail: &str, height: i32) -> Html {
    html! {
        <g class="lane">
            <text x={x.to_string()} y="18" text-anchor="middle" class="lane-name">{ name.to_string() }</text>
            <text x={x.to_string()} y="34" text-anchor="middle" class="lane-detail">{ detail.to_string() }</text>
            <line x1={x.to_string()} y1="42" x2={x.to_string()} y2={height.to_string()} class="lane-line" />
        </g>
    }
}

#[derive(Properties, PartialEq)]
struct ArrowProps {
    item: TimelineItem,
    y: i32,
    explained: bool,
    dispatch: UseReducerDispatcher<AppState>,
}

#[function_component(Arrow)]
fn arrow(p: &ArrowProps) -> Html {
    let item = &p.item;
    let y = p.y;
    let onclick = {
        let d = p.dispatch.clone();
        let (index, applied) = (item.index, item.applied);
        Callback::from(move |_: MouseEvent| {
            if applied {
                d.dispatch(Action::Select(index));
            }
        })
    };
    let class = classes!(
        "flow",
        (!item.applied).then_some("pending"),
        p.explained.then_some("explained"),
        item.verdict.map(|(v, _)| v.to_ascii_lowercase()),
    );
    let time = html! {
        <text x="6" y={(y + 4).to_string()} class="flow-time">{ fmt_time(item.at_ms) }</text>
    };
    let highlight = p.explained.then(|| html! {
        <rect x="0" y={(y - ROW / 2).to_string()} width={WIDTH.to_string()} height={ROW.to_string()}
            class="flow-highlight" />
    });
    let Some(from) = item.from else {
        return html! {
            <g {class} {onclick}>
                <title>{ item.summary.clone() }</title>
                { for highlight }
                { time }
                <line x1={LAN_X.to_string()} y1={y.to_string()} x2={WAN_X.to_string()} y2={y.to_string()}
                    class="flow-wait" />
                <text x={FW_X.to_string()} y={(y - 5).to_string()} text-anchor="middle" class="flow-label">
                    { item.summary.clone() }
                </text>
            </g>
        };
    };
    let (src, dst) = match from {
        Iface::Lan => (LAN_X, WAN_X),
        Iface::Wan => (WAN_X, LAN_X),
    };
    let toward = if dst > src { 1 } else { -1 };
    let verdict = item.verdict.map(|(v, _)| v);
    let end = match verdict {
        Some("ACCEPT") | None => dst,
        _ => FW_X - toward * 4,
    };
    let mid_in = (src + FW_X) / 2;
    let mid_out = (FW_X + dst) / 2;
    let state_text = match verdict {
        Some("ACCEPT") => item.state_after.clone(),
        Some(v) => format!("{v} · {}", item.state_after),
        None => String::new(),
    };
    let answer = (verdict == Some("REJECT")).then(|| {
        html! {
            <line x1={FW_X.to_string()} y1={(y + 8).to_string()} x2={(src + toward * 4).to_string()}
                y2={(y + 8).to_string()} class="flow-answer" marker-end="url(#arrow)" />
        }
    });
    let cross = matches!(verdict, Some("DROP") | Some("REJECT")).then(|| {
        let (cx, s) = (FW_X - toward * 4, 6);
        html! {
            <path d={format!("M {} {} L {} {} M {} {} L {} {}",
                cx - s, y - s, cx + s, y + s, cx - s, y + s, cx + s, y - s)} class="flow-cross" />
        }
    });
    html! {
        <g {class} {onclick}>
            <title>{ format!("{}{}", item.summary, verdict.map(|v| format!(": {v}")).unwrap_or_default()) }</title>
            { for highlight }
            { time }
            <line x1={src.to_string()} y1={y.to_string()} x2={end.to_string()} y2={y.to_string()}
                class="flow-line" marker-end={(verdict == Some("ACCEPT") || verdict.is_none()).then_some("url(#arrow)")} />
            { for cross }
            { for answer }
            <text x={mid_in.to_string()} y={(y - 5).to_string()} text-anchor="middle" class="flow-label">
                { item.label.clone() }
            </text>
            <text x={mid_out.to_string()} y={(y - 5).to_string()} text-anchor="middle" class="flow-state">
                { state_text }
            </text>
        </g>
    }
}

//! The explanation of one event: its verdict, the path through the chains (like
//! `iptables -j TRACE`), the conntrack transition, why it was INVALID or ignored, what
//! the table reported (`conntrack -E`), what the router sent, and the packet's layers.

use std::rc::Rc;

use wasmwall::Outcome;
use yew::prelude::*;

use super::packet::PacketDetail;
use crate::dissect;
use crate::session::{Event, EventKind, StepOutcome, StepRecord};
use crate::view::{filter_verdict_name, fmt_time, verdict_of};

#[derive(Properties, PartialEq)]
pub struct WhyProps {
    pub record: Option<Rc<StepRecord>>,
    pub event: Option<Rc<Event>>,
}

#[function_component(Why)]
pub fn why(p: &WhyProps) -> Html {
    let (Some(record), Some(event)) = (&p.record, &p.event) else {
        return html! {
            <p class="muted">
                { "Step through the timeline or send a packet: the last one is explained here. \
                   Choose an event in the timeline to explain an earlier one." }
            </p>
        };
    };
    let heading = format!(
        "Event {} at {}{}",
        record.index + 1,
        fmt_time(record.at_ms),
        match &event.kind {
            EventKind::Packet { from, .. } => format!(", entering from {from}"),
            EventKind::Wait => String::new(),
        }
    );
    html! {
        <div class="why" data-testid="why">
            <h3>{ heading }</h3>
            if !event.note.is_empty() {
                <p class="event-note">{ event.note.clone() }</p>
            }
            { match (&record.outcome, &event.kind) {
                (StepOutcome::Packet(_), EventKind::Packet { bytes, .. })
                | (StepOutcome::BadPacket(_), EventKind::Packet { bytes, .. }) => packet_explanation(record, bytes),
                _ => html! {
                    <p>{ format!("The clock moved to {}. Entries whose timeout ran out were removed.", fmt_time(record.clock_ms)) }</p>
                },
            } }
            <CtEvents record={record.clone()} />
        </div>
    }
}

fn packet_explanation(record: &StepRecord, bytes: &[u8]) -> Html {
    let (verdict, ctstate) = verdict_of(record).unwrap_or(("DROP", "INVALID"));
    let body = match &record.outcome {
        StepOutcome::Packet(d) => {
            let out = d
                .emitted
                .iter()
                .find(|e| e.kind == "forwarded")
                .map_or("the other interface", |e| e.iface.name());
            let outcome = match d.outcome {
                Outcome::Forwarded => format!("forwarded out of {out}"),
                Outcome::Local => "delivered to the router itself (INPUT)".to_string(),
                Outcome::Dropped => "dropped: nothing came out".to_string(),
                Outcome::Rejected => "rejected: the router answered the sender".to_string(),
            };
            let decided = match &d.filter {
                Some(f) => format!(
                    "{} in chain {}: {}",
                    f.rule
                        .map_or("the policy".to_string(), |n| format!("rule {n}")),
                    f.chain,
                    filter_verdict_name(f.verdict)
                ),
                None => "nothing: the packet never reached the filter table".to_string(),
            };
            let reason_label = if d.reason.as_deref() == Some(wasmwall::conntrack::TABLE_FULL) {
                "Why dropped"
            } else if d.ctstate == wasmwall::CtState::Invalid {
                "Why INVALID"
            } else {
                "Note"
            };
            html! {
                <dl class="facts">
                    <dt>{ "Outcome" }</dt>
                    <dd>{ outcome }</dd>
                    <dt>{ "Connection state" }</dt>
                    <dd>
                        <span class="badge ctstate">{ ctstate }</span>
                        { match (d.created, d.entry_id) {
                            (true, _) if d.outcome == Outcome::Forwarded => " (a new entry was created)".to_string(),
                            (true, _) => " (the new entry was forgotten with the packet)".to_string(),
                            (false, Some(id)) => format!(" (entry {id})"),
                            (false, None) => String::new(),
                        } }
                    </dd>
                    if let Some((from, to)) = d.transition {
                        <dt>{ "TCP transition" }</dt>
                        <dd><code>{ format!("{} → {}", from.name(), to.name()) }</code></dd>
                    }
                    if let Some(reason) = &d.reason {
                        <dt>{ reason_label }</dt>
                        <dd><code>{ reason.clone() }</code></dd>
                    }
                    <dt>{ "Decided by" }</dt>
                    <dd>{ decided }</dd>
                    <dt>{ "Path" }</dt>
                    <dd>
                        <ol class="trace" aria-label="The packet's path through the router">
                            { for d.explain().into_iter().map(|line| html! { <li><code>{ line }</code></li> }) }
                        </ol>
                    </dd>
                    if !d.emitted.is_empty() {
                        <dt>{ "Sent by the router" }</dt>
                        <dd>
                            <ul>
                                { for d.emitted.iter().map(|e| html! {
                                    <li>{ format!("{} out of {}: ", e.kind.replace('_', " "), e.iface) }
                                        <code>{ dissect::summary(&e.bytes) }</code></li>
                                }) }
                            </ul>
                        </dd>
                    }
                </dl>
            }
        }
        StepOutcome::BadPacket(e) => html! {
            <dl class="facts">
                <dt>{ "Outcome" }</dt>
                <dd>{ format!("dropped by the IP layer before netfilter: {e}") }</dd>
            </dl>
        },
        StepOutcome::Wait => html! {},
    };
    html! {
        <>
            <p class="verdict-line">
                <span class={classes!("badge", verdict.to_ascii_lowercase())}>{ verdict }</span>
                <code>{ dissect::summary(bytes) }</code>
            </p>
            { body }
            <h4>{ "Layers" }</h4>
            <PacketDetail bytes={Rc::new(bytes.to_vec())} />
        </>
    }
}

#[derive(Properties, PartialEq)]
struct CtEventsProps {
    record: Rc<StepRecord>,
}

/// What the step did to the table, as `conntrack -E` prints it.
#[function_component(CtEvents)]
fn ct_events(p: &CtEventsProps) -> Html {
    if p.record.ct_events.is_empty() {
        return html! { <p class="muted">{ "The table did not change." }</p> };
    }
    html! {
        <>
            <h4>{ "Table changes (conntrack -E)" }</h4>
            <ul class="ct-events">
                { for p.record.ct_events.iter().map(|e| html! { <li><code>{ e.to_string() }</code></li> }) }
            </ul>
        </>
    }
}

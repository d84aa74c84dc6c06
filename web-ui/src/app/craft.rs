//! The craft form: a packet described field by field, sent into the router at the
//! current clock and added to the timeline. The fields are read when the packet is
//! sent, so what is on screen is what is sent.

use yew::prelude::*;

use super::state::{Action, AppState};
use crate::craft::CraftInput;
use crate::session::{EventKind, Session};

#[derive(Properties, PartialEq)]
pub struct CraftProps {
    pub session: Session,
    /// The event the "Why" panel explains, which the form can copy.
    pub explained: Option<usize>,
    pub dispatch: UseReducerDispatcher<AppState>,
}

/// The form's inputs.
#[derive(Clone, Default, PartialEq)]
struct Refs {
    from: NodeRef,
    proto: NodeRef,
    src: NodeRef,
    dst: NodeRef,
    sport: NodeRef,
    dport: NodeRef,
    flags: NodeRef,
    seq: NodeRef,
    ack: NodeRef,
    window: NodeRef,
    payload: NodeRef,
    ttl: NodeRef,
    icmp_type: NodeRef,
    icmp_code: NodeRef,
    icmp_id: NodeRef,
    icmp_seq: NodeRef,
}

fn get(r: &NodeRef) -> String {
    if let Some(i) = r.cast::<web_sys::HtmlInputElement>() {
        i.value()
    } else if let Some(s) = r.cast::<web_sys::HtmlSelectElement>() {
        s.value()
    } else {
        String::new()
    }
}

fn set(r: &NodeRef, value: &str) {
    if let Some(i) = r.cast::<web_sys::HtmlInputElement>() {
        i.set_value(value);
    } else if let Some(s) = r.cast::<web_sys::HtmlSelectElement>() {
        s.set_value(value);
    }
}

/// Which text of a [`CraftInput`] an input holds.
type FieldOf = fn(&mut CraftInput) -> &mut String;

impl Refs {
    fn pairs(&self) -> [(&NodeRef, FieldOf); 16] {
        [
            (&self.from, |c| &mut c.from),
            (&self.proto, |c| &mut c.proto),
            (&self.src, |c| &mut c.src),
            (&self.dst, |c| &mut c.dst),
            (&self.sport, |c| &mut c.sport),
            (&self.dport, |c| &mut c.dport),
            (&self.flags, |c| &mut c.flags),
            (&self.seq, |c| &mut c.seq),
            (&self.ack, |c| &mut c.ack),
            (&self.window, |c| &mut c.window),
            (&self.payload, |c| &mut c.payload),
            (&self.ttl, |c| &mut c.ttl),
            (&self.icmp_type, |c| &mut c.icmp_type),
            (&self.icmp_code, |c| &mut c.icmp_code),
            (&self.icmp_id, |c| &mut c.icmp_id),
            (&self.icmp_seq, |c| &mut c.icmp_seq),
        ]
    }

    fn read(&self) -> CraftInput {
        let mut c = CraftInput::default();
        for (r, field) in self.pairs() {
            *field(&mut c) = get(r);
        }
        c
    }

    fn write(&self, c: &CraftInput) {
        let mut c = c.clone();
        for (r, field) in self.pairs() {
            set(r, field(&mut c));
        }
    }
}

#[function_component(CraftPanel)]
pub fn craft_panel(p: &CraftProps) -> Html {
    let refs = use_memo((), |_| Refs::default());
    let proto = use_state(|| CraftInput::default().proto);
    let message = use_state(|| None::<(bool, String)>);
    let defaults = CraftInput::default();

    let on_proto = {
        let proto = proto.clone();
        Callback::from(move |e: Event| {
            let s: web_sys::HtmlSelectElement = e.target_unchecked_into();
            proto.set(s.value());
        })
    };
    let on_submit = {
        let (refs, session, d, message) = (
            refs.clone(),
            p.session.clone(),
            p.dispatch.clone(),
            message.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let input = refs.read();
            match input.build(&session) {
                Ok((from, bytes)) => {
                    message.set(None);
                    d.dispatch(Action::Send {
                        from,
                        bytes,
                        note: "crafted in the form".into(),
                    });
                }
                Err(err) => message.set(Some((true, err))),
            }
        })
    };
    let on_fill = {
        let (refs, session, message) = (refs.clone(), p.session.clone(), message.clone());
        Callback::from(move |_: MouseEvent| {
            let input = refs.read();
            match input.next_expected(&session) {
                Some((seq, ack)) => {
                    set(&refs.seq, &seq.to_string());
                    set(&refs.ack, &ack.to_string());
                    message.set(Some((
                        false,
                        format!("Filled in from the tracked connection: seq {seq}, ack {ack}."),
                    )));
                }
                None => message.set(Some((
                    false,
                    format!(
                        "No TCP connection is tracked for {}:{} → {}:{}; empty fields send 0.",
                        input.src, input.sport, input.dst, input.dport
                    ),
                ))),
            }
        })
    };
    let copy = |reply: bool| {
        let (refs, session, proto, message) = (
            refs.clone(),
            p.session.clone(),
            proto.clone(),
            message.clone(),
        );
        let explained = p.explained;
        Callback::from(move |_: MouseEvent| {
            let packet = explained.and_then(|i| match &session.scenario().events[i].kind {
                EventKind::Packet { from, bytes } => CraftInput::from_packet(*from, bytes),
                EventKind::Wait => None,
            });
            let Some(mut input) = packet else {
                message.set(Some((
                    true,
                    "Explain a TCP, UDP or ICMP packet first (choose it in the timeline).".into(),
                )));
                return;
            };
            if reply {
                input.swap();
            }
            refs.write(&input);
            proto.set(input.proto.clone());
            message.set(None);
        })
    };
    let is = |p: &str| *proto == p;
    html! {
        <form class="craft" onsubmit={on_submit} aria-describedby="craft-help">
            <p id="craft-help" class="muted">
                { "The packet enters the router at the current clock and is added to the timeline \
                   after the current step. Leave seq and ack empty to use what the tracked \
                   connection expects next." }
            </p>
            <div class="craft-tools">
                <button type="button" onclick={copy(false)} disabled={p.explained.is_none()}>
                    { "Copy the explained packet" }
                </button>
                <button type="button" onclick={copy(true)} disabled={p.explained.is_none()}>
                    { "Its reply" }
                </button>
            </div>
            <div class="field-grid">
                <label>
                    <span>{ "Enters from" }</span>
                    <select data-testid="craft-from" ref={refs.from.clone()}>
                        <option value="lan" selected={defaults.from == "lan"}>{ "lan" }</option>
                        <option value="wan" selected={defaults.from == "wan"}>{ "wan" }</option>
                    </select>
                </label>
                <label>
                    <span>{ "Protocol" }</span>
                    <select data-testid="craft-proto" ref={refs.proto.clone()} onchange={on_proto}>
                        { for ["tcp", "udp", "icmp"].iter().map(|p| html! {
                            <option value={*p} selected={defaults.proto == *p}>{ *p }</option>
                        }) }
                    </select>
                </label>
                <TextField label="Source address" testid="craft-src" node={refs.src.clone()} initial={defaults.src.clone()} />
                <TextField label="Destination address" testid="craft-dst" node={refs.dst.clone()} initial={defaults.dst.clone()} />
                <TextField label="TTL" testid="craft-ttl" node={refs.ttl.clone()} initial={defaults.ttl.clone()} numeric=true />
            </div>
            <fieldset hidden={is("icmp")}>
                <legend>{ "Ports" }</legend>
                <div class="field-grid">
                    <TextField label="Source port" testid="craft-sport" node={refs.sport.clone()} initial={defaults.sport.clone()} numeric=true />
                    <TextField label="Destination port" testid="craft-dport" node={refs.dport.clone()} initial={defaults.dport.clone()} numeric=true />
                </div>
            </fieldset>
            <fieldset hidden={!is("tcp")}>
                <legend>{ "TCP" }</legend>
                <div class="field-grid">
                    <TextField label="Flags (S F R P A U E C)" testid="craft-flags" node={refs.flags.clone()} initial={defaults.flags.clone()} />
                    <TextField label="Sequence number" testid="craft-seq" node={refs.seq.clone()} initial={defaults.seq.clone()} numeric=true placeholder="next expected" />
                    <TextField label="Acknowledgement number" testid="craft-ack" node={refs.ack.clone()} initial={defaults.ack.clone()} numeric=true placeholder="next expected" />
                    <TextField label="Window" testid="craft-window" node={refs.window.clone()} initial={defaults.window.clone()} numeric=true />
                </div>
                <button type="button" onclick={on_fill}>{ "Fill in the next expected seq and ack" }</button>
            </fieldset>
            <fieldset hidden={!is("icmp")}>
                <legend>{ "ICMP" }</legend>
                <div class="field-grid">
                    <TextField label="Type (8 echo, 0 reply, 3 unreachable, 11 time exceeded)" testid="craft-icmp-type" node={refs.icmp_type.clone()} initial={defaults.icmp_type.clone()} numeric=true />
                    <TextField label="Code" testid="craft-icmp-code" node={refs.icmp_code.clone()} initial={defaults.icmp_code.clone()} numeric=true />
                    <TextField label="Identifier" testid="craft-icmp-id" node={refs.icmp_id.clone()} initial={defaults.icmp_id.clone()} numeric=true />
                    <TextField label="Sequence" testid="craft-icmp-seq" node={refs.icmp_seq.clone()} initial={defaults.icmp_seq.clone()} numeric=true />
                </div>
            </fieldset>
            <TextField label="Payload (text)" testid="craft-payload" node={refs.payload.clone()} initial={defaults.payload.clone()} />
            <div class="craft-actions">
                <button type="submit" data-testid="craft-send">{ "Send" }</button>
                if let Some((is_error, text)) = &*message {
                    <p class={if *is_error { "error" } else { "muted" }} role={if *is_error { "alert" } else { "status" }}
                        data-testid="craft-message">
                        { text.clone() }
                    </p>
                }
            </div>
        </form>
    }
}

#[derive(Properties, PartialEq)]
struct TextFieldProps {
    label: &'static str,
    testid: &'static str,
    node: NodeRef,
    /// The value the field starts with; it is the user's after that.
    initial: String,
    #[prop_or_default]
    numeric: bool,
    #[prop_or_default]
    placeholder: Option<&'static str>,
}

/// A text input whose value is set once, when it appears (Yew would otherwise put
/// its `value` back on every render).
#[function_component(TextField)]
fn text_field(p: &TextFieldProps) -> Html {
    {
        let (node, value) = (p.node.clone(), p.initial.clone());
        use_effect_with((), move |_| set(&node, &value));
    }
    html! {
        <label>
            <span>{ p.label }</span>
            <input type="text" data-testid={p.testid} ref={p.node.clone()}
                inputmode={p.numeric.then_some("numeric")} placeholder={p.placeholder}
                autocomplete="off" spellcheck="false" />
        </label>
    }
}

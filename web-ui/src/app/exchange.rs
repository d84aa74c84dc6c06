//! Sharing and files: a link that reproduces the scenario, pcap import and export, and
//! kernel-oracle specs and traces to compare with Linux.

use std::cell::RefCell;
use std::rc::Rc;

use gloo::file::callbacks::FileReader;
use yew::prelude::*;

use super::download;
use super::state::{Action, AppState};
use crate::export;
use crate::pcap;
use crate::session::{EventKind, Session};
use crate::share;

#[derive(Properties, PartialEq)]
pub struct ExchangeProps {
    pub session: Session,
    /// The preset's id, used to name exported files.
    pub preset: String,
    pub dispatch: UseReducerDispatcher<AppState>,
}

#[function_component(Exchange)]
pub fn exchange(p: &ExchangeProps) -> Html {
    let link = use_state(|| None::<String>);
    let reader: Rc<RefCell<Option<FileReader>>> = use_mut_ref(|| None);

    let on_link = {
        let (session, link) = (p.session.clone(), link.clone());
        Callback::from(move |_: MouseEvent| {
            let hash = share::encode(session.scenario(), session.cursor());
            let window = gloo::utils::window();
            let location = window.location();
            let base = format!(
                "{}{}{}",
                location.origin().unwrap_or_default(),
                location.pathname().unwrap_or_default(),
                location.search().unwrap_or_default()
            );
            let url = format!("{base}{hash}");
            if let Ok(history) = window.history() {
                let _ =
                    history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
            }
            let _ = window.navigator().clipboard().write_text(&url);
            link.set(Some(url));
        })
    };
    let on_export_pcap = {
        let (session, name) = (p.session.clone(), p.preset.clone());
        Callback::from(move |_: MouseEvent| {
            let packets: Vec<(u64, &[u8])> = session
                .scenario()
                .events
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::Packet { bytes, .. } => Some((e.at_ms * 1000, bytes.as_slice())),
                    EventKind::Wait => None,
                })
                .collect();
            download(
                &format!("wasmwall-{name}.pcap"),
                "application/vnd.tcpdump.pcap",
                &pcap::write(&packets),
            );
        })
    };
    let on_export_trace = {
        let (session, name, d) = (p.session.clone(), p.preset.clone(), p.dispatch.clone());
        Callback::from(
            move |_: MouseEvent| match export::oracle_trace(session.scenario(), &name) {
                Ok(trace) => download(
                    &format!("wasmwall-{name}.trace.json"),
                    "application/json",
                    serde_json::to_string_pretty(&trace)
                        .unwrap_or_default()
                        .as_bytes(),
                ),
                Err(e) => d.dispatch(Action::Notice(Some(format!(
                    "The trace could not be made: {e}"
                )))),
            },
        )
    };
    let on_export_spec = {
        let (session, name) = (p.session.clone(), p.preset.clone());
        Callback::from(move |_: MouseEvent| {
            let spec = export::oracle_spec(session.scenario(), &name);
            download(
                &format!("{}.json", name.replace('-', "_")),
                "application/json",
                serde_json::to_string_pretty(&spec)
                    .unwrap_or_default()
                    .as_bytes(),
            );
        })
    };
    let on_import = {
        let (d, reader) = (p.dispatch.clone(), reader.clone());
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            let Some(file) = input.files().and_then(|f| f.get(0)) else {
                return;
            };
            let file = gloo::file::File::from(file);
            let name = file.name();
            let d = d.clone();
            let task = gloo::file::callbacks::read_as_bytes(&file, move |res| match res {
                Ok(data) => d.dispatch(Action::ImportPcap { name, data }),
                Err(e) => d.dispatch(Action::Notice(Some(format!(
                    "{name} could not be read: {e}"
                )))),
            });
            *reader.borrow_mut() = Some(task);
            input.set_value("");
        })
    };
    html! {
        <div class="exchange">
            <div class="exchange-group">
                <h3>{ "Link" }</h3>
                <p class="muted">
                    { "The link holds the rules, the table size, every packet with its time and \
                       how far the timeline has been stepped, so it reopens exactly this state." }
                </p>
                <button type="button" data-testid="share-link" onclick={on_link}>{ "Make a link to this scenario" }</button>
                if let Some(url) = &*link {
                    <label class="stacked">
                        <span>{ "Link (also copied to the clipboard when the browser allows it)" }</span>
                        <input type="text" readonly=true value={url.clone()} data-testid="share-url"
                            onfocus={Callback::from(|e: FocusEvent| {
                                let i: web_sys::HtmlInputElement = e.target_unchecked_into();
                                i.select();
                            })} />
                    </label>
                }
            </div>
            <div class="exchange-group">
                <h3>{ "Capture files" }</h3>
                <label class="stacked">
                    <span>{ "Import a pcap (raw IPv4 or Ethernet): its packets replace the timeline" }</span>
                    <input type="file" accept=".pcap,.cap,application/vnd.tcpdump.pcap"
                        data-testid="pcap-import" onchange={on_import} />
                </label>
                <button type="button" data-testid="pcap-export" onclick={on_export_pcap}>
                    { "Export the timeline as pcap" }
                </button>
            </div>
            <div class="exchange-group">
                <h3>{ "Compare with Linux" }</h3>
                <p class="muted">
                    { "A kernel-oracle spec replays this timeline on a real Linux router; the \
                       trace is what wasmwall did, in the same shape as the kernel's recording, \
                       for compare.py." }
                </p>
                <button type="button" data-testid="trace-export" onclick={on_export_trace}>
                    { "Export the trace (JSON)" }
                </button>
                <button type="button" data-testid="spec-export" onclick={on_export_spec}>
                    { "Export a kernel-oracle spec (JSON)" }
                </button>
            </div>
        </div>
    }
}

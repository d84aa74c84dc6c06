//! The wasmwall browser app.
//!
//! A Yew app that will let a person craft packets, step through a TCP handshake and teardown,
//! and watch the conntrack table and the rules decide, all computed in the browser by the
//! `wasmwall` engine. For now it is the page's shell: the header, a short explanation and
//! the sections that the demo will fill.
//!
//! Built with `wasm-pack build web-ui --target web --release --out-dir ../pkg`; the
//! repository's `index.html` loads `pkg/wasmwall_web.js` and calls `init()`, which mounts
//! [`App`] (feature `start`, on by default). Code that embeds the app elsewhere, such as the
//! browser tests, turns `start` off and calls [`mount`].

use yew::prelude::*;

/// The engine's version, shown in the footer.
pub const ENGINE_VERSION: &str = wasmwall::VERSION;

/// One part of the demo page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// The element id, also the anchor in the page's navigation.
    pub id: &'static str,
    /// The heading shown to the reader.
    pub title: &'static str,
    /// What the section will show, until it is built.
    pub blurb: &'static str,
}

/// The sections of the page, in the order they appear.
pub const SECTIONS: &[Section] = &[
    Section {
        id: "timeline",
        title: "Timeline",
        blurb: "Every packet of the connection, in order: its direction, TCP flags and \
                the verdict. Step forwards and backwards to replay what the firewall saw.",
    },
    Section {
        id: "craft",
        title: "Craft a packet",
        blurb: "Pick addresses, ports, protocol and TCP flags, then send the packet from \
                either side. It is built into real IPv4 bytes and fed to the engine.",
    },
    Section {
        id: "conntrack",
        title: "Conntrack table",
        blurb: "The connection tracking table as /proc/net/nf_conntrack prints it: watch \
                an entry go from [UNREPLIED] to [ASSURED] and its timeout change.",
    },
    Section {
        id: "rules",
        title: "Rules",
        blurb: "The filter table in iptables-save syntax, with each rule's packet \
                counter. Edit the rules and replay the timeline against them.",
    },
    Section {
        id: "why",
        title: "Why",
        blurb: "The explanation of the selected packet: which chain and rule decided, \
                which conntrack state it had, and why a packet was INVALID.",
    },
];

/// Columns of the conntrack table, as `conntrack -L` names them.
const CONNTRACK_COLUMNS: &[&str] = &["proto", "timeout", "state", "original", "reply", "flags"];

/// The whole page.
#[function_component(App)]
pub fn app() -> Html {
    html! {
        <div class="app">
            <header class="app-header">
                <h1>{ "wasmwall" }</h1>
                <p class="tagline">
                    { "A stateful firewall with Linux netfilter semantics, running in your browser." }
                </p>
                <nav aria-label="Sections">
                    <ul>
                        { for SECTIONS.iter().map(|s| html! {
                            <li><a href={format!("#{}", s.id)}>{ s.title }</a></li>
                        }) }
                    </ul>
                </nav>
            </header>
            <main>
                <section class="intro" aria-label="About this demo">
                    <p>
                        { "This demo will let you craft packets, step through a TCP handshake \
                           and teardown, and watch what the firewall does with each one: the \
                           conntrack entry going from " }
                        <code>{ "[UNREPLIED]" }</code>{ " to " }<code>{ "[ASSURED]" }</code>
                        { ", the rule that matched and the reason behind every verdict. \
                           Everything is computed here, in WebAssembly, by the same engine \
                           that runs as a WASI component and a native library." }
                    </p>
                </section>
                <div class="panels">
                    { for SECTIONS.iter().map(|s| html! { <Panel section={*s} /> }) }
                </div>
            </main>
            <footer class="app-footer">
                { format!("wasmwall engine v{ENGINE_VERSION}") }
            </footer>
        </div>
    }
}

/// Properties of [`Panel`].
#[derive(Properties, PartialEq)]
pub struct PanelProps {
    /// The section that the panel shows.
    pub section: Section,
}

/// One section of the page, with its heading and placeholder content.
#[function_component(Panel)]
pub fn panel(props: &PanelProps) -> Html {
    let s = props.section;
    let heading_id = format!("{}-title", s.id);
    let body = if s.id == "conntrack" {
        html! {
            <div class="table-wrap">
                <table>
                    <thead>
                        <tr>{ for CONNTRACK_COLUMNS.iter().map(|c| html! { <th scope="col">{ *c }</th> }) }</tr>
                    </thead>
                    <tbody>
                        <tr><td class="empty" colspan={CONNTRACK_COLUMNS.len().to_string()}>
                            { "No connections yet." }
                        </td></tr>
                    </tbody>
                </table>
            </div>
        }
    } else {
        html! {}
    };
    html! {
        <section id={s.id} class={classes!("panel", format!("panel-{}", s.id))}
            aria-labelledby={heading_id.clone()}>
            <h2 id={heading_id}>{ s.title }</h2>
            <p class="placeholder">{ s.blurb }</p>
            { body }
        </section>
    }
}

/// Mounts [`App`] into `root`, replacing what `root` contained.
pub fn mount(root: web_sys::Element) -> AppHandle<App> {
    root.set_inner_html("");
    yew::Renderer::<App>::with_root(root).render()
}

/// Entry point run by `init()`: mounts the app on the page's `#app` element, or on `<body>`.
#[cfg(feature = "start")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    let document = gloo::utils::document();
    let root = document
        .get_element_by_id("app")
        .unwrap_or_else(|| gloo::utils::body().into());
    // The handle is only needed to unmount; the app lives as long as the page.
    std::mem::forget(mount(root));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_ids_are_unique_anchor_names() {
        for (i, s) in SECTIONS.iter().enumerate() {
            assert!(
                s.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{:?} is not a plain anchor name",
                s.id
            );
            assert!(
                SECTIONS[..i].iter().all(|t| t.id != s.id),
                "duplicate section id {:?}",
                s.id
            );
        }
    }
}

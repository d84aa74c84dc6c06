//! The wasmwall browser app.
//!
//! A Yew app that steps through packet timelines and shows what a Linux router's
//! netfilter does with each packet: the conntrack table, the rule that decided, the
//! state transition and why a packet is INVALID. Everything is computed in the page by
//! the `wasmwall` engine, compiled to WebAssembly.
//!
//! The pure parts work natively too and carry their own tests:
//!
//! * [`session`]: a scenario (rules, sysctls, timeline) and the firewall state after
//!   each step, with exact undo;
//! * [`presets`]: ready-made scenarios, most recorded from Linux;
//! * [`view`]: what the panels show, derived from a session;
//! * [`craft`]: the craft form's fields turned into packet bytes;
//! * [`dissect`], [`pcap`], [`share`], [`export`]: packet layers, capture files,
//!   links, kernel-oracle specs and traces.
//!
//! The page is in [`app`] (the reducer in [`app::state`], one module per panel).
//! Built with `wasm-pack build web-ui --target web --release --out-dir ../pkg`; the
//! repository's `index.html` loads `pkg/wasmwall_web.js` and calls `init()`, which mounts
//! [`app::App`] (feature `start`, on by default). Code that embeds the app elsewhere,
//! such as the browser tests, turns `start` off and calls [`mount`].

pub mod app;
pub mod craft;
pub mod dissect;
pub mod export;
pub mod pcap;
pub mod presets;
pub mod session;
pub mod share;
pub mod view;

pub use app::App;

/// The engine's version, shown in the footer.
pub const ENGINE_VERSION: &str = wasmwall::VERSION;

/// Mounts [`App`] into `root`, replacing what `root` contained.
pub fn mount(root: web_sys::Element) -> yew::AppHandle<App> {
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

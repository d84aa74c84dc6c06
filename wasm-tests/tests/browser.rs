//! Tests that run in headless Chromium: `wasm-pack test --headless --chrome wasm-tests`.
//!
//! They mount the Yew app from `wasmwall-web` into a fresh element and read what rendered.
//! (`--node` skips this file; `node.rs` has the tests that need no DOM.)
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

/// A new `<div>` appended to the page's body, holding `text`.
fn fresh_root(text: &str) -> Element {
    let document = gloo::utils::document();
    let root = document.create_element("div").expect("create a div");
    root.set_text_content(Some(text));
    gloo::utils::body()
        .append_child(&root)
        .expect("append the div to <body>");
    root
}

/// Waits (up to about two seconds) until `selector` matches inside `root`. Yew renders from
/// its scheduler, after `render()` returns.
async fn wait_for(root: &Element, selector: &str) -> Element {
    for _ in 0..200 {
        if let Some(found) = root.query_selector(selector).expect("valid selector") {
            return found;
        }
        gloo::timers::future::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{selector} never rendered; the root holds: {}",
        root.inner_html()
    );
}

/// The rendered text of `el`, as a person would read it.
fn text(el: &Element) -> String {
    el.dyn_ref::<HtmlElement>()
        .map(|h| h.inner_text())
        .unwrap_or_else(|| el.text_content().unwrap_or_default())
}

#[wasm_bindgen_test]
async fn app_renders_its_header_and_sections() {
    let root = fresh_root("");
    let app = wasmwall_web::mount(root.clone());

    let h1 = wait_for(&root, "header h1").await;
    assert_eq!(text(&h1), "wasmwall");

    let headings = root
        .query_selector_all("main section.panel h2")
        .expect("valid selector");
    let titles: Vec<String> = (0..headings.length())
        .filter_map(|i| headings.item(i))
        .filter_map(|n| n.dyn_into::<Element>().ok())
        .map(|e| text(&e))
        .collect();
    assert_eq!(
        titles,
        [
            "Timeline",
            "Craft a packet",
            "Conntrack table",
            "Rules",
            "Why"
        ]
    );

    let nav_links = root
        .query_selector_all("nav a")
        .expect("valid selector")
        .length();
    assert_eq!(nav_links, 5, "one navigation link per section");

    let footer = wait_for(&root, "footer").await;
    assert!(
        text(&footer).contains(wasmwall::VERSION),
        "footer {:?} does not show the engine version {}",
        text(&footer),
        wasmwall::VERSION
    );

    app.destroy();
    root.remove();
}

#[wasm_bindgen_test]
async fn mount_replaces_the_loading_message() {
    let root = fresh_root("Loading the wasmwall app…");
    let app = wasmwall_web::mount(root.clone());

    wait_for(&root, "header h1").await;
    let rendered = text(&root);
    assert!(
        !rendered.contains("Loading"),
        "loading text left behind: {rendered:?}"
    );
    let empty = wait_for(&root, "#conntrack td.empty").await;
    assert_eq!(text(&empty), "No connections yet.");

    app.destroy();
    root.remove();
}

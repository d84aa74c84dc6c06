//! Tests that run in node: `wasm-pack test --node wasm-tests`.
//!
//! They check that the engine and the app's pure parts link and behave once compiled to
//! wasm32-unknown-unknown. (`--chrome` skips this file; `browser.rs` has the DOM tests.)
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn engine_links_and_reports_its_version() {
    let parts: Vec<&str> = wasmwall::VERSION.split('.').collect();
    assert_eq!(
        parts.len(),
        3,
        "VERSION is not MAJOR.MINOR.PATCH: {:?}",
        wasmwall::VERSION
    );
    for part in parts {
        let digits = part.split(['-', '+']).next().unwrap_or_default();
        assert!(
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
            "bad version component {part:?} in {:?}",
            wasmwall::VERSION
        );
    }
    assert_eq!(wasmwall_web::ENGINE_VERSION, wasmwall::VERSION);
}

#[wasm_bindgen_test]
fn app_sections_are_the_five_parts_of_the_demo() {
    let ids: Vec<&str> = wasmwall_web::SECTIONS.iter().map(|s| s.id).collect();
    assert_eq!(ids, ["timeline", "craft", "conntrack", "rules", "why"]);
    for s in wasmwall_web::SECTIONS {
        assert!(!s.title.is_empty(), "section {} has no title", s.id);
        assert!(
            s.blurb.len() > 40,
            "section {} has no real description",
            s.id
        );
    }
}

#[wasm_bindgen_test]
fn runs_in_node_not_a_browser() {
    // If this file were ever run in the browser by mistake, the counts `cargo xtask test`
    // checks would be off; make the environment explicit.
    let global = js_sys::global();
    let process =
        js_sys::Reflect::get(&global, &"process".into()).expect("read globalThis.process");
    assert!(
        process.is_object(),
        "globalThis.process is missing: not running in node"
    );
    let document =
        js_sys::Reflect::get(&global, &"document".into()).expect("read globalThis.document");
    assert!(document.is_undefined(), "a DOM exists: not running in node");
}

//! Tests that run in headless Chromium: `wasm-pack test --headless --chrome wasm-tests`.
//!
//! They mount the Yew app from `wasmwall-web` into a fresh element, act on it the way a
//! person would (choosing a preset, clicking buttons, typing into fields, pressing
//! keys) and read what rendered through the page's test hooks (`data-testid`).
//! (`--node` skips this file; `node.rs` has the tests that need no DOM.)
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

/// The app mounted in a new `<div>` of the page; unmounted when dropped.
struct Mounted {
    root: Element,
    app: Option<yew::AppHandle<wasmwall_web::App>>,
}

impl Mounted {
    async fn new() -> Mounted {
        let root = gloo::utils::document()
            .create_element("div")
            .expect("create a div");
        root.set_text_content(Some("Loading the wasmwall app…"));
        gloo::utils::body()
            .append_child(&root)
            .expect("append the div to <body>");
        let app = wasmwall_web::mount(root.clone());
        let m = Mounted {
            root,
            app: Some(app),
        };
        m.find("[data-testid=step]").await;
        m
    }

    /// Waits (up to about two seconds) until `selector` matches. Yew renders from its
    /// scheduler, after the event that changed the state has been handled.
    async fn find(&self, selector: &str) -> Element {
        for _ in 0..200 {
            if let Some(found) = self.root.query_selector(selector).expect("valid selector") {
                return found;
            }
            tick().await;
        }
        panic!(
            "{selector} never rendered; the root holds: {}",
            self.root.inner_html()
        );
    }

    fn all(&self, selector: &str) -> Vec<Element> {
        let list = self
            .root
            .query_selector_all(selector)
            .expect("valid selector");
        (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|n| n.dyn_into::<Element>().ok())
            .collect()
    }

    /// Waits until `check` holds, then returns; fails with `what` and the table's state.
    async fn until(&self, what: &str, check: impl Fn(&Mounted) -> bool) {
        for _ in 0..200 {
            if check(self) {
                return;
            }
            tick().await;
        }
        panic!(
            "{what} never happened; entries: {:?}; verdict: {:?}",
            self.entries(),
            self.verdict()
        );
    }

    async fn click(&self, testid: &str) {
        let el = self.find(&format!("[data-testid={testid}]")).await;
        el.dyn_ref::<HtmlElement>()
            .expect("an HTML element")
            .click();
        tick().await;
    }

    /// Sets a field or a `<select>` and fires the events typing or choosing fires.
    async fn set(&self, testid: &str, value: &str) {
        let el = self.find(&format!("[data-testid={testid}]")).await;
        if let Some(select) = el.dyn_ref::<web_sys::HtmlSelectElement>() {
            select.set_value(value);
        } else if let Some(input) = el.dyn_ref::<web_sys::HtmlInputElement>() {
            input.set_value(value);
        } else if let Some(area) = el.dyn_ref::<web_sys::HtmlTextAreaElement>() {
            area.set_value(value);
        }
        for kind in ["input", "change"] {
            let init = web_sys::EventInit::new();
            init.set_bubbles(true);
            let event = web_sys::Event::new_with_event_init_dict(kind, &init).expect("an event");
            el.dispatch_event(&event).expect("dispatch");
        }
        tick().await;
    }

    /// `(proto, state, flags, timeout)` of every `ct-entry`.
    fn entries(&self) -> Vec<(String, String, String, String)> {
        self.all("[data-testid=ct-entry]")
            .iter()
            .map(|e| {
                let a = |n: &str| e.get_attribute(n).unwrap_or_else(|| format!("<no {n}>"));
                (
                    a("data-proto"),
                    a("data-state"),
                    a("data-flags"),
                    a("data-timeout"),
                )
            })
            .collect()
    }

    /// `(text, data-ctstate)` of the verdict.
    fn verdict(&self) -> (String, String) {
        let el = self
            .root
            .query_selector("[data-testid=verdict]")
            .expect("valid selector")
            .expect("the verdict is always shown");
        (
            el.text_content().unwrap_or_default(),
            el.get_attribute("data-ctstate").unwrap_or_default(),
        )
    }

    fn text(&self, testid: &str) -> String {
        self.root
            .query_selector(&format!("[data-testid={testid}]"))
            .expect("valid selector")
            .and_then(|e| e.text_content())
            .unwrap_or_default()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            app.destroy();
        }
        self.root.remove();
    }
}

async fn tick() {
    gloo::timers::future::sleep(Duration::from_millis(10)).await;
}

fn entry(proto: &str, state: &str, flags: &str, timeout: &str) -> (String, String, String, String) {
    (proto.into(), state.into(), flags.into(), timeout.into())
}

fn row(state: &str, flags: &str, timeout: &str) -> Vec<(String, String, String, String)> {
    vec![entry("tcp", state, flags, timeout)]
}

#[wasm_bindgen_test]
async fn app_renders_every_section() {
    let m = Mounted::new().await;
    let h1 = m.find("header h1").await;
    assert_eq!(h1.text_content().unwrap_or_default(), "wasmwall");
    let titles: Vec<String> = m
        .all("main section.panel > h2")
        .iter()
        .map(|e| e.text_content().unwrap_or_default())
        .collect();
    let expected: Vec<&str> = wasmwall_web::app::SECTIONS
        .iter()
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(titles, expected);
    assert_eq!(m.all("nav a").len(), expected.len());
    let footer = m.find("footer").await.text_content().unwrap_or_default();
    assert!(footer.contains(wasmwall::VERSION), "{footer}");
    assert!(
        !m.root
            .text_content()
            .unwrap_or_default()
            .contains("Loading"),
        "the loading text was left behind"
    );
    let preset = m.find("[data-testid=preset]").await;
    let value = preset
        .dyn_ref::<web_sys::HtmlSelectElement>()
        .expect("a select")
        .value();
    assert_eq!(value, "tcp-handshake", "the page opens on the handshake");
}

#[wasm_bindgen_test]
async fn handshake_preset_steps_back_and_resets() {
    let m = Mounted::new().await;
    m.set("preset", "udp").await;
    m.click("step").await;
    m.until("a UDP entry", |m| {
        m.entries() == vec![entry("udp", "", "UNREPLIED", "29")]
    })
    .await;

    m.set("preset", "tcp-handshake").await;
    m.until("the preset's empty table", |m| m.entries().is_empty())
        .await;
    let rules = m.find("[data-testid=rules]").await;
    let rules = rules
        .dyn_ref::<web_sys::HtmlTextAreaElement>()
        .expect("a textarea")
        .value();
    assert!(
        rules.starts_with("-P FORWARD DROP\n-A FORWARD -m state --state INVALID -j DROP"),
        "{rules}"
    );

    m.click("step").await;
    m.until("SYN_SENT", |m| {
        m.entries() == row("SYN_SENT", "UNREPLIED", "119")
    })
    .await;
    assert_eq!(m.verdict(), ("ACCEPT".into(), "NEW".into()));
    assert!(m
        .text("ct-raw")
        .starts_with("ipv4     2 tcp      6 119 SYN_SENT src=192.168.1.10 "));

    m.click("step").await;
    m.until("SYN_RECV", |m| m.entries() == row("SYN_RECV", "", "59"))
        .await;
    assert_eq!(m.verdict(), ("ACCEPT".into(), "ESTABLISHED".into()));
    let raw_after_two = m.text("ct-raw");

    m.click("step").await;
    m.until("ESTABLISHED", |m| {
        m.entries() == row("ESTABLISHED", "ASSURED", "431999")
    })
    .await;
    assert_eq!(m.verdict(), ("ACCEPT".into(), "ESTABLISHED".into()));
    assert!(m
        .text("ct-raw")
        .ends_with("[ASSURED] mark=0 zone=0 use=2\n"));

    m.click("back").await;
    m.until("back to SYN_RECV", |m| {
        m.entries() == row("SYN_RECV", "", "59")
    })
    .await;
    assert_eq!(
        m.text("ct-raw"),
        raw_after_two,
        "back restores the exact table"
    );

    m.click("reset").await;
    m.until("an empty table after reset", |m| m.entries().is_empty())
        .await;
    assert_eq!(m.text("ct-raw"), "");
    assert_eq!(m.verdict(), (String::new(), String::new()));
}

#[wasm_bindgen_test]
async fn crafted_inbound_syn_is_new_and_dropped() {
    let m = Mounted::new().await;
    m.set("preset", "blank").await;
    m.set("craft-from", "wan").await;
    m.set("craft-proto", "tcp").await;
    m.set("craft-src", "203.0.113.9").await;
    m.set("craft-dst", "192.168.1.10").await;
    m.set("craft-sport", "5555").await;
    m.set("craft-dport", "22").await;
    m.set("craft-flags", "S").await;
    m.set("craft-seq", "1000").await;
    // Typed values survive the page re-rendering.
    m.click("clock-advance").await;
    m.until("the clock to move", |m| m.text("clock") == "10.000 s")
        .await;
    m.click("craft-send").await;
    m.until("the verdict of the crafted SYN", |m| {
        m.verdict() == ("DROP".into(), "NEW".into())
    })
    .await;
    assert!(m.entries().is_empty(), "a dropped SYN leaves no entry");
    assert_eq!(
        m.text("position"),
        "Step 2 of 2",
        "the packet joined the timeline"
    );

    // The same SYN from the LAN side is let out and tracked.
    m.set("craft-from", "lan").await;
    m.set("craft-src", "192.168.1.10").await;
    m.set("craft-dst", "203.0.113.9").await;
    m.click("craft-send").await;
    m.until("an outbound SYN tracked", |m| {
        m.entries() == row("SYN_SENT", "UNREPLIED", "119")
    })
    .await;
    assert_eq!(m.verdict(), ("ACCEPT".into(), "NEW".into()));
}

#[wasm_bindgen_test]
async fn bad_rules_are_refused_at_their_line() {
    let m = Mounted::new().await;
    m.set(
        "rules",
        "-P FORWARD DROP\n-A FORWARD --no-such-option -j ACCEPT",
    )
    .await;
    m.click("rules-apply").await;
    let error = m.find("[data-testid=rules-error]").await;
    let text = error.text_content().unwrap_or_default();
    assert!(text.contains("line 2"), "{text}");

    // Good rules replace it, and the error goes away.
    m.set("rules", "-P FORWARD DROP").await;
    m.click("rules-apply").await;
    m.until("the error to go", |m| {
        m.all("[data-testid=rules-error]").is_empty()
    })
    .await;
    m.click("step").await;
    m.until("the SYN dropped by the policy", |m| m.verdict().0 == "DROP")
        .await;
}

#[wasm_bindgen_test]
async fn the_clock_counts_timeouts_down() {
    let m = Mounted::new().await;
    m.click("step").await;
    m.until("SYN_SENT at 119", |m| {
        m.entries() == row("SYN_SENT", "UNREPLIED", "119")
    })
    .await;
    m.click("clock-advance").await;
    m.until("SYN_SENT at 109", |m| {
        m.entries() == row("SYN_SENT", "UNREPLIED", "109")
    })
    .await;
    assert_eq!(m.text("clock"), "10.050 s");
    m.click("clock-next-expiry").await;
    m.until("the entry to expire", |m| m.entries().is_empty())
        .await;
}

#[wasm_bindgen_test]
async fn arrow_keys_step_and_go_back() {
    let m = Mounted::new().await;
    let key = |k: &str| {
        let init = web_sys::KeyboardEventInit::new();
        init.set_key(k);
        init.set_bubbles(true);
        let e = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init)
            .expect("a key event");
        gloo::utils::body().dispatch_event(&e).expect("dispatch");
    };
    key("ArrowRight");
    m.until("one step", |m| m.entries().len() == 1).await;
    key("ArrowRight");
    m.until("SYN_RECV", |m| m.entries() == row("SYN_RECV", "", "59"))
        .await;
    key("ArrowLeft");
    m.until("back to SYN_SENT", |m| {
        m.entries() == row("SYN_SENT", "UNREPLIED", "119")
    })
    .await;
}

#[wasm_bindgen_test]
async fn the_why_panel_explains_the_last_packet() {
    let m = Mounted::new().await;
    m.click("step").await;
    m.click("step").await;
    let why = m.find("[data-testid=why]").await;
    m.until("the transition", |_| {
        why.text_content()
            .unwrap_or_default()
            .contains("SYN_SENT → SYN_RECV")
    })
    .await;
    let text = why.text_content().unwrap_or_default();
    assert!(text.contains("filter:FORWARD:rule:2:ACCEPT"), "{text}");
    let decisive = m.all("[data-testid=rule-row][data-decisive=true]");
    assert_eq!(decisive.len(), 1);
    let rule = decisive[0].text_content().unwrap_or_default();
    assert!(rule.contains("ESTABLISHED"), "{rule}");
    let arrows = m.all("svg.ladder g.flow:not(.pending)");
    assert_eq!(arrows.len(), 2, "two packets drawn in the diagram");
}

#[wasm_bindgen_test]
async fn reset_brings_the_preset_back_as_it_was_loaded() {
    let m = Mounted::new().await;
    m.set("preset", "tcp-handshake").await;
    m.click("craft-send").await;
    m.click("clock-advance").await;
    m.until("two events added", |m| m.text("position") == "Step 2 of 13")
        .await;
    m.click("reset").await;
    m.until("the preset's own timeline", |m| {
        m.text("position") == "Step 0 of 11"
    })
    .await;
    for _ in 0..3 {
        m.click("step").await;
    }
    m.until("ESTABLISHED", |m| {
        m.entries() == row("ESTABLISHED", "ASSURED", "431999")
    })
    .await;
    assert_eq!(m.verdict(), ("ACCEPT".into(), "ESTABLISHED".into()));
}

//! The page: [`App`] holds the one reducer ([`state`]) and lays out the panels, each a
//! small function component in its own module that gets only what it shows.

mod conntrack;
mod controls;
mod craft;
mod exchange;
mod ladder;
mod packet;
mod rules;
pub mod state;
mod timeline;
mod why;

use std::rc::Rc;

use gloo::events::{EventListener, EventListenerOptions};
use gloo::render::{request_animation_frame, AnimationFrame};
use gloo::timers::callback::Interval;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::view;
use state::{Action, AppState, Speed};

/// The page's sections, in order: `(id, heading)`. The ids are the navigation's anchors.
pub const SECTIONS: &[(&str, &str)] = &[
    ("scenario", "Scenario and timeline"),
    ("flow", "Flow diagram"),
    ("conntrack", "Conntrack table"),
    ("why", "Why"),
    ("rules", "Rules"),
    ("craft", "Craft a packet"),
    ("exchange", "Share and exchange"),
];

/// How many events before and after the current position the timeline and the
/// diagram show; long captures would otherwise make the page slow.
const WINDOW_BEFORE: usize = 40;
const WINDOW_AFTER: usize = 20;

/// The range of events the timeline shows around `cursor`.
pub fn timeline_window(cursor: usize, len: usize) -> std::ops::Range<usize> {
    let start = cursor.saturating_sub(WINDOW_BEFORE);
    start..(cursor + WINDOW_AFTER).min(len)
}

type Dispatch = UseReducerDispatcher<AppState>;

fn location_hash() -> String {
    gloo::utils::window().location().hash().unwrap_or_default()
}

/// The whole page.
#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(|| AppState::from_hash(&location_hash()));
    let dispatch = state.dispatcher();
    use_player(
        state.playing,
        state.speed,
        state.session.revision(),
        dispatch.clone(),
    );
    use_arrow_keys(dispatch.clone());
    use_link_opening(dispatch.clone());

    let session = state.session.clone();
    let explained = state.explained();
    let record = explained.map(|i| session.records()[i].clone());
    let table = use_memo(session.clone(), view::table_view);
    let rule_rows = {
        let filter = record
            .as_ref()
            .and_then(|r| r.decision())
            .and_then(|d| d.filter.clone());
        use_memo((session.clone(), filter), |(s, f)| {
            view::rules_view(s.firewall(), f.as_ref())
        })
    };
    let window = timeline_window(session.cursor(), session.len());
    let items = use_memo((session.clone(), window.clone()), |(s, w)| {
        view::timeline_items(s, w.clone())
    });
    let verdict = session.last_packet().and_then(view::verdict_of);
    let scenario = session.scenario();
    let explained_event = explained.map(|i| Rc::new(scenario.events[i].clone()));

    html! {
        <div class="app">
            <header class="app-header">
                <h1>{ "wasmwall" }</h1>
                <p class="tagline">
                    { "A stateful firewall with Linux netfilter semantics, running in your browser." }
                </p>
                <nav aria-label="Sections">
                    <ul>
                        { for SECTIONS.iter().map(|(id, title)| html! {
                            <li><a href={format!("#{id}")}>{ *title }</a></li>
                        }) }
                    </ul>
                </nav>
            </header>
            <controls::Controls
                cursor={session.cursor()}
                len={session.len()}
                clock_ms={session.clock_ms()}
                playing={state.playing}
                speed={state.speed}
                verdict={verdict}
                next_expiry_ms={table.next_expiry_ms}
                dispatch={dispatch.clone()}
            />
            if let Some(text) = state.notice.clone() {
                <p class="notice" role="status">
                    { text }
                    <button type="button" class="link-button"
                        onclick={let d = dispatch.clone(); move |_| d.dispatch(Action::Notice(None))}>
                        { "Dismiss" }
                    </button>
                </p>
            }
            <main>
                <div class="panels">
                    <Section id="scenario">
                        <controls::ScenarioPicker
                            preset={state.preset.clone()}
                            title={scenario.title.clone()}
                            description={scenario.description.clone()}
                            dispatch={dispatch.clone()}
                        />
                        <timeline::Timeline
                            items={items.clone()}
                            cursor={session.cursor()}
                            len={session.len()}
                            explained={explained}
                            dispatch={dispatch.clone()}
                        />
                    </Section>
                    <Section id="flow">
                        <ladder::Ladder items={items} explained={explained} dispatch={dispatch.clone()} />
                    </Section>
                    <Section id="conntrack">
                        <conntrack::ConntrackPanel
                            table={table}
                            clock_ms={session.clock_ms()}
                            show_raw={state.show_raw}
                            dispatch={dispatch.clone()}
                        />
                    </Section>
                    <Section id="why">
                        <why::Why record={record} event={explained_event} />
                    </Section>
                    <Section id="rules">
                        <rules::RulesPanel
                            key={state.generation}
                            rules={scenario.rules.clone()}
                            max_entries={session.firewall().conntrack().settings().max}
                            problem={state.rules_problem.clone()}
                            rows={rule_rows}
                            dispatch={dispatch.clone()}
                        />
                    </Section>
                    <Section id="craft">
                        <craft::CraftPanel
                            key={state.generation}
                            session={session.clone()}
                            explained={explained}
                            dispatch={dispatch.clone()}
                        />
                    </Section>
                    <Section id="exchange">
                        <exchange::Exchange session={session.clone()} preset={state.preset.clone()} dispatch={dispatch} />
                    </Section>
                </div>
            </main>
            <footer class="app-footer">
                { format!("wasmwall engine v{}", crate::ENGINE_VERSION) }
                { " · keyboard: → step, ← back" }
            </footer>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct SectionProps {
    /// One of [`SECTIONS`]' ids; the heading is its title there.
    id: &'static str,
    children: Html,
}

/// One panel of the page, with its heading.
#[function_component(Section)]
fn section(props: &SectionProps) -> Html {
    let heading_id = format!("{}-title", props.id);
    let title = SECTIONS
        .iter()
        .find(|(id, _)| *id == props.id)
        .map_or(props.id, |(_, title)| *title);
    html! {
        <section id={props.id} class={classes!("panel", format!("panel-{}", props.id))}
            aria-labelledby={heading_id.clone()}>
            <h2 id={heading_id}>{ title }</h2>
            { props.children.clone() }
        </section>
    }
}

/// Play: one step per tick at a given rate, or as many steps per animation frame as
/// fit in 12 ms at full speed.
#[hook]
fn use_player(playing: bool, speed: Speed, revision: u64, dispatch: Dispatch) {
    {
        let dispatch = dispatch.clone();
        use_effect_with((playing, speed), move |&(playing, speed)| {
            let interval = match (playing, speed) {
                (true, Speed::PerSecond(n)) => Some(Interval::new(1000 / n.max(1), move || {
                    dispatch.dispatch(Action::PlayTick)
                })),
                _ => None,
            };
            move || drop(interval)
        });
    }
    use_effect_with(
        (playing && speed == Speed::Max, revision),
        move |&(fast, _)| {
            let frame: Option<AnimationFrame> = fast.then(|| {
                request_animation_frame(move |_| {
                    dispatch.dispatch(Action::PlayFrame {
                        deadline_ms: state::now_ms() + 12.0,
                    })
                })
            });
            move || drop(frame)
        },
    );
}

/// → steps, ← goes back, unless a form field has the focus. The listener is made
/// during the first render (not in an effect, which runs later), so the keys work as
/// soon as the page shows; it goes when the app does.
#[hook]
fn use_arrow_keys(dispatch: Dispatch) {
    use_state(move || {
        let options = EventListenerOptions::enable_prevent_default();
        let document = gloo::utils::document();
        EventListener::new_with_options(&document, "keydown", options, move |e| {
            let Some(key) = e.dyn_ref::<web_sys::KeyboardEvent>() else {
                return;
            };
            if key.alt_key() || key.ctrl_key() || key.meta_key() || key.shift_key() {
                return;
            }
            let in_field = key
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .is_some_and(|el| {
                    matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                });
            if in_field {
                return;
            }
            let action = match key.key().as_str() {
                "ArrowRight" => Action::Step,
                "ArrowLeft" => Action::Back,
                _ => return,
            };
            key.prevent_default();
            dispatch.dispatch(action);
        })
    });
}

/// Opening a link to a scenario in a tab that already shows the page.
#[hook]
fn use_link_opening(dispatch: Dispatch) {
    use_state(move || {
        EventListener::new(&gloo::utils::window(), "hashchange", move |_| {
            let hash = location_hash();
            if hash.starts_with(crate::share::PREFIX) {
                dispatch.dispatch(Action::OpenLink(hash));
            }
        })
    });
}

/// Offers `data` as a file download named `name`.
pub(crate) fn download(name: &str, mime: &str, data: &[u8]) {
    let blob = gloo::file::Blob::new_with_options(data, Some(mime));
    let url = gloo::file::ObjectUrl::from(blob);
    if let Ok(a) = gloo::utils::document()
        .create_element("a")
        .map(|e| e.unchecked_into::<web_sys::HtmlAnchorElement>())
    {
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    // Keep the object URL alive while the browser starts the download.
    gloo::timers::callback::Timeout::new(60_000, move || drop(url)).forget();
}

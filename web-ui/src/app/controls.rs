//! The control bar (step, back, play, reset, the clock, the last verdict) and the
//! preset picker.

use yew::prelude::*;

use super::state::{Action, AppState, Speed, CUSTOM};
use crate::presets::PRESETS;
use crate::view::fmt_time;

#[derive(Properties, PartialEq)]
pub struct ControlsProps {
    pub cursor: usize,
    pub len: usize,
    pub clock_ms: u64,
    pub playing: bool,
    pub speed: Speed,
    /// The last packet's verdict and `-m state` class.
    pub verdict: Option<(&'static str, &'static str)>,
    pub next_expiry_ms: Option<u64>,
    pub dispatch: UseReducerDispatcher<AppState>,
}

/// Stays at the top of the window: the timeline's buttons, the engine clock and the
/// last packet's verdict.
#[function_component(Controls)]
pub fn controls(p: &ControlsProps) -> Html {
    let send = |action: Action| {
        let d = p.dispatch.clone();
        Callback::from(move |_: MouseEvent| d.dispatch(action.clone()))
    };
    let on_speed = {
        let d = p.dispatch.clone();
        Callback::from(move |e: Event| {
            let select: web_sys::HtmlSelectElement = e.target_unchecked_into();
            if let Some(speed) = Speed::from_value(&select.value()) {
                d.dispatch(Action::SetSpeed(speed));
            }
        })
    };
    let expiry_label = match p.next_expiry_ms {
        Some(t) => format!(
            "To the next expiry (+{})",
            fmt_time(t.saturating_sub(p.clock_ms))
        ),
        None => "To the next expiry".into(),
    };
    html! {
        <div class="controls" role="toolbar" aria-label="Timeline controls">
            <div class="control-group">
                <button type="button" data-testid="back" onclick={send(Action::Back)}
                    disabled={p.cursor == 0} aria-keyshortcuts="ArrowLeft"
                    title="Undo the last step (←)">
                    <span aria-hidden="true">{ "◀ " }</span>{ "Back" }
                </button>
                <button type="button" data-testid="step" onclick={send(Action::Step)}
                    disabled={p.cursor >= p.len} aria-keyshortcuts="ArrowRight"
                    title="Apply the next event (→)">
                    { "Step" }<span aria-hidden="true">{ " ▶" }</span>
                </button>
                <button type="button" data-testid="play" onclick={send(Action::TogglePlay)}
                    aria-pressed={p.playing.to_string()}>
                    { if p.playing { "Pause" } else { "Play" } }
                    <span aria-hidden="true">{ if p.playing { " ❚❚" } else { " ▶▶" } }</span>
                </button>
                <label class="inline">
                    <span>{ "Speed" }</span>
                    <select data-testid="speed" onchange={on_speed}>
                        { for Speed::ALL.iter().map(|s| html! {
                            <option value={s.value()} selected={*s == p.speed}>{ s.label() }</option>
                        }) }
                    </select>
                </label>
                <button type="button" data-testid="reset" onclick={send(Action::Reset)}
                    title="Back to the start: a preset as it was loaded, another scenario at its first event">
                    <span aria-hidden="true">{ "⟲ " }</span>{ "Reset" }
                </button>
            </div>
            <div class="control-group">
                <span class="clock" aria-live="off">
                    <span class="muted">{ "Clock " }</span>
                    <strong data-testid="clock">{ fmt_time(p.clock_ms) }</strong>
                </span>
                <button type="button" data-testid="clock-advance-1" onclick={send(Action::Wait(1_000))}>
                    { "+1 s" }
                </button>
                <button type="button" data-testid="clock-advance" onclick={send(Action::Wait(10_000))}>
                    { "+10 s" }
                </button>
                <button type="button" data-testid="clock-next-expiry"
                    onclick={send(Action::WaitNextExpiry)} disabled={p.next_expiry_ms.is_none()}>
                    { expiry_label }
                </button>
            </div>
            <div class="control-group status" aria-live="polite">
                <span data-testid="position">{ format!("Step {} of {}", p.cursor, p.len) }</span>
                <span class="muted">{ " · Last packet: " }</span>
                <strong
                    data-testid="verdict"
                    class={classes!("badge", p.verdict.map(|(v, _)| v.to_ascii_lowercase()))}
                    data-ctstate={p.verdict.map(|(_, c)| c)}
                >
                    { p.verdict.map(|(v, _)| v).unwrap_or_default() }
                </strong>
                if let Some((_, ctstate)) = p.verdict {
                    <span class="badge ctstate">{ ctstate }</span>
                } else {
                    <span class="muted">{ "none yet" }</span>
                }
            </div>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct ScenarioPickerProps {
    /// The preset's id, or `custom`.
    pub preset: String,
    pub title: String,
    pub description: String,
    pub dispatch: UseReducerDispatcher<AppState>,
}

/// The preset menu and what the loaded scenario is about.
#[function_component(ScenarioPicker)]
pub fn scenario_picker(p: &ScenarioPickerProps) -> Html {
    let on_change = {
        let d = p.dispatch.clone();
        Callback::from(move |e: Event| {
            let select: web_sys::HtmlSelectElement = e.target_unchecked_into();
            d.dispatch(Action::LoadPreset(select.value()));
        })
    };
    html! {
        <div class="scenario">
            <label class="stacked">
                <span>{ "Preset" }</span>
                <select data-testid="preset" onchange={on_change}>
                    { for PRESETS.iter().map(|preset| html! {
                        <option value={preset.id} selected={preset.id == p.preset}>{ preset.title }</option>
                    }) }
                    if p.preset == CUSTOM {
                        <option value={CUSTOM} selected=true disabled=true>{ p.title.clone() }</option>
                    }
                </select>
            </label>
            <p class="description">{ p.description.clone() }</p>
        </div>
    }
}

//! The rules editor (iptables-save text or guide-style lines) with its errors at their
//! line, and the loaded ruleset with each rule's packet counters and the rule that
//! decided the explained packet.

use std::rc::Rc;

use yew::prelude::*;

use super::state::{Action, AppState, RulesProblem};
use crate::view::RuleRow;

#[derive(Properties, PartialEq)]
pub struct RulesProps {
    /// The loaded rules, as they were typed.
    pub rules: String,
    pub max_entries: u32,
    pub problem: Option<RulesProblem>,
    pub rows: Rc<Vec<RuleRow>>,
    pub dispatch: UseReducerDispatcher<AppState>,
}

#[function_component(RulesPanel)]
pub fn rules_panel(p: &RulesProps) -> Html {
    let editor = use_node_ref();
    let gutter = use_node_ref();
    let max_input = use_node_ref();
    let lines = use_state(|| p.rules.lines().count().max(1));

    // An error moves the caret to the line it is at.
    {
        let editor = editor.clone();
        use_effect_with(p.problem.clone(), move |problem| {
            if let (Some(line), Some(area)) = (
                problem.as_ref().and_then(|pr| pr.line),
                editor.cast::<web_sys::HtmlTextAreaElement>(),
            ) {
                let text = area.value();
                let start: usize = text
                    .split('\n')
                    .take(line - 1)
                    .map(|l| l.encode_utf16().count() + 1)
                    .sum();
                let len = text
                    .split('\n')
                    .nth(line - 1)
                    .map_or(0, |l| l.encode_utf16().count());
                let _ = area.focus();
                let _ = area.set_selection_range(start as u32, (start + len) as u32);
            }
        });
    }

    // The size field shows the loaded size; what is typed stays until it is applied.
    {
        let max_input = max_input.clone();
        use_effect_with(p.max_entries, move |max| {
            if let Some(input) = max_input.cast::<web_sys::HtmlInputElement>() {
                input.set_value(&max.to_string());
            }
        });
    }
    let on_input = {
        let lines = lines.clone();
        Callback::from(move |e: InputEvent| {
            let area: web_sys::HtmlTextAreaElement = e.target_unchecked_into();
            lines.set(area.value().split('\n').count().max(1));
        })
    };
    let on_scroll = {
        let gutter = gutter.clone();
        Callback::from(move |e: Event| {
            let area: web_sys::Element = e.target_unchecked_into();
            if let Some(g) = gutter.cast::<web_sys::Element>() {
                g.set_scroll_top(area.scroll_top());
            }
        })
    };
    let on_apply = {
        let (editor, max_input, d) = (editor.clone(), max_input.clone(), p.dispatch.clone());
        let current_max = p.max_entries;
        Callback::from(move |_: MouseEvent| {
            let Some(area) = editor.cast::<web_sys::HtmlTextAreaElement>() else {
                return;
            };
            let max_entries = max_input
                .cast::<web_sys::HtmlInputElement>()
                .and_then(|i| i.value().trim().parse::<u32>().ok())
                .filter(|&n| n > 0)
                .unwrap_or(current_max);
            d.dispatch(Action::ApplyRules {
                rules: area.value(),
                max_entries,
            });
        })
    };
    let error_line = p.problem.as_ref().and_then(|pr| pr.line);
    let gutter_text: Html = (1..=*lines)
        .map(|n| {
            let mark = (error_line == Some(n)).then_some("error-line");
            html! { <span class={classes!(mark)}>{ if mark.is_some() { format!("{n}✖") } else { n.to_string() } }</span> }
        })
        .collect();
    html! {
        <div class="rules">
            <label for="rules-editor" class="stacked">
                <span>{ "Ruleset (iptables-save, or lines like -A FORWARD ...)" }</span>
            </label>
            <div class={classes!("editor", error_line.is_some().then_some("has-error"))}>
                <div class="gutter" ref={gutter} aria-hidden="true">{ gutter_text }</div>
                <textarea id="rules-editor" data-testid="rules" ref={editor} spellcheck="false"
                    rows={(*lines).clamp(6, 18).to_string()} defaultvalue={p.rules.clone()}
                    oninput={on_input} onscroll={on_scroll}
                    aria-invalid={p.problem.is_some().to_string()}
                    aria-describedby={p.problem.is_some().then_some("rules-error")} />
            </div>
            <div class="rules-actions">
                <label class="inline">
                    <span>{ "Table size (nf_conntrack_max)" }</span>
                    <input type="number" min="1" max="1048576" data-testid="rules-max" ref={max_input.clone()}
                        class="narrow" />
                </label>
                <button type="button" data-testid="rules-apply" onclick={on_apply}>
                    { "Apply and replay" }
                </button>
            </div>
            if let Some(problem) = &p.problem {
                <div id="rules-error" data-testid="rules-error" class="error" role="alert">
                    <p>{ format!("Not loaded: {}", problem.text()) }</p>
                    if let (Some(line), Some(src)) = (problem.line, &problem.source_line) {
                        <pre class="error-source">{ caret_text(line, problem.column, src) }</pre>
                    }
                </div>
            }
            <p class="muted">
                { "Applying replays the timeline up to the current step against the new rules. \
                   The loaded tables, as iptables-save prints them, with each rule's packet and \
                   byte counters:" }
            </p>
            <div class="table-wrap">
                <table class="rule-table" data-testid="rule-counters">
                    <thead>
                        <tr>
                            <th scope="col">{ "table" }</th>
                            <th scope="col">{ "#" }</th>
                            <th scope="col">{ "rule" }</th>
                            <th scope="col">{ "packets" }</th>
                            <th scope="col">{ "bytes" }</th>
                        </tr>
                    </thead>
                    <tbody>
                        { for p.rows.iter().map(rule_row) }
                    </tbody>
                </table>
            </div>
        </div>
    }
}

/// The line with a caret under the column, like a compiler's message.
fn caret_text(line: usize, column: Option<usize>, src: &str) -> String {
    let prefix = format!("{line} | ");
    let mut out = format!("{prefix}{src}");
    if let Some(col) = column {
        out.push('\n');
        out.push_str(&" ".repeat(prefix.len() + col.saturating_sub(1)));
        out.push('^');
    }
    out
}

fn rule_row(r: &RuleRow) -> Html {
    html! {
        <tr class={classes!(r.decisive.then_some("decisive"), (r.packets > 0).then_some("hit"))}
            data-testid="rule-row" data-decisive={r.decisive.to_string()}>
            <td>{ r.table }</td>
            <td>
                { r.number.map_or("policy".to_string(), |n| n.to_string()) }
                if r.decisive {
                    <span class="badge decisive-badge" title="decided the explained packet">{ "decided" }</span>
                }
            </td>
            <td><code>{ r.text.clone() }</code></td>
            <td class="num" data-testid="rule-packets">{ r.packets }</td>
            <td class="num">{ r.bytes }</td>
        </tr>
    }
}

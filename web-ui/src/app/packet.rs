//! A packet's layers as a detail tree next to its bytes. Choosing a field (click,
//! or keyboard focus) highlights its bytes in the hex view.

use std::ops::Range;
use std::rc::Rc;

use yew::prelude::*;

use crate::dissect::{self, Layer};

#[derive(Properties, PartialEq)]
pub struct PacketDetailProps {
    pub bytes: Rc<Vec<u8>>,
}

#[function_component(PacketDetail)]
pub fn packet_detail(p: &PacketDetailProps) -> Html {
    let layers = use_memo(p.bytes.clone(), |b| dissect::dissect(b));
    let chosen = use_state(|| None::<Range<usize>>);
    // A new packet clears the choice.
    {
        let chosen = chosen.clone();
        use_effect_with(p.bytes.clone(), move |_| chosen.set(None));
    }
    html! {
        <div class="packet-detail">
            <div class="layers">
                { for layers.iter().map(|layer| layer_tree(layer, &chosen)) }
            </div>
            <HexView bytes={p.bytes.clone()} highlight={(*chosen).clone()} />
        </div>
    }
}

fn layer_tree(layer: &Layer, chosen: &UseStateHandle<Option<Range<usize>>>) -> Html {
    html! {
        <details open=true class="layer">
            <summary>{ format!("{} · bytes {}–{}", layer.title, layer.range.start, layer.range.end.saturating_sub(1)) }</summary>
            <ul>
                { for layer.fields.iter().map(|f| {
                    let active = chosen.as_ref() == Some(&f.range);
                    let choose = {
                        let (chosen, range) = (chosen.clone(), f.range.clone());
                        move || chosen.set(Some(range.clone()))
                    };
                    let onfocus = {
                        let choose = choose.clone();
                        Callback::from(move |_: FocusEvent| choose())
                    };
                    let onclick = Callback::from(move |_: MouseEvent| choose());
                    html! {
                        <li>
                            <button type="button" class="field" aria-pressed={active.to_string()}
                                {onfocus} {onclick}>
                                <span class="field-name">{ f.name }</span>
                                <span class="field-value">{ f.value.clone() }</span>
                            </button>
                        </li>
                    }
                }) }
            </ul>
        </details>
    }
}

#[derive(Properties, PartialEq)]
struct HexProps {
    bytes: Rc<Vec<u8>>,
    highlight: Option<Range<usize>>,
}

/// Sixteen bytes a row, with the offset of each row.
#[function_component(HexView)]
fn hex_view(p: &HexProps) -> Html {
    let hl = p.highlight.clone().unwrap_or(0..0);
    html! {
        <div class="hex" role="group" aria-label={format!("The packet's {} bytes in hexadecimal", p.bytes.len())}>
            { for p.bytes.chunks(16).enumerate().map(|(row, chunk)| html! {
                <div class="hex-row">
                    <span class="hex-offset">{ format!("{:04x}", row * 16) }</span>
                    { for chunk.iter().enumerate().map(|(i, b)| {
                        let at = row * 16 + i;
                        html! {
                            <span class={classes!("hex-byte", hl.contains(&at).then_some("hl"))}>
                                { format!("{b:02x}") }
                            </span>
                        }
                    }) }
                </div>
            }) }
        </div>
    }
}

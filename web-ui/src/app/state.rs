//! The page's state and the one reducer that changes it.

use std::rc::Rc;

use wasmwall::Iface;
use yew::Reducible;

use crate::pcap;
use crate::presets::{self, DEFAULT_PRESET};
use crate::session::{Event, EventKind, Scenario, ScenarioError, Session};

/// How fast play steps through the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    /// Events per second.
    PerSecond(u32),
    /// As many events per animation frame as fit in a few milliseconds.
    Max,
}

impl Speed {
    pub const ALL: [Speed; 6] = [
        Speed::PerSecond(1),
        Speed::PerSecond(2),
        Speed::PerSecond(5),
        Speed::PerSecond(10),
        Speed::PerSecond(50),
        Speed::Max,
    ];

    /// The `<option>` value: `2` or `max`.
    pub fn value(self) -> String {
        match self {
            Speed::PerSecond(n) => n.to_string(),
            Speed::Max => "max".into(),
        }
    }

    pub fn label(self) -> String {
        match self {
            Speed::PerSecond(1) => "1 step/s".into(),
            Speed::PerSecond(n) => format!("{n} steps/s"),
            Speed::Max => "as fast as possible".into(),
        }
    }

    pub fn from_value(v: &str) -> Option<Speed> {
        Speed::ALL.into_iter().find(|s| s.value() == v)
    }
}

/// An error in the rules panel, at a line of the editor when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesProblem {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    /// The text of the line the error is at.
    pub source_line: Option<String>,
}

impl RulesProblem {
    fn new(e: ScenarioError, rules: &str) -> RulesProblem {
        match e {
            ScenarioError::Rules(r) => RulesProblem {
                line: Some(r.line),
                column: Some(r.column),
                source_line: rules
                    .lines()
                    .nth(r.line.saturating_sub(1))
                    .map(str::to_string),
                message: r.message,
            },
            ScenarioError::Setting(m) => RulesProblem {
                line: None,
                column: None,
                message: m,
                source_line: None,
            },
        }
    }

    /// `line 2, column 15: unknown option "--bogus"`.
    pub fn text(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("line {l}, column {c}: {}", self.message),
            (Some(l), None) => format!("line {l}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

/// Everything the page shows.
#[derive(Debug, Clone)]
pub struct AppState {
    pub session: Session,
    /// The preset's id, or `custom` once the scenario came from elsewhere.
    pub preset: String,
    /// Counts loaded scenarios: forms holding a copy of the scenario reset when it changes.
    pub generation: u64,
    pub playing: bool,
    pub speed: Speed,
    /// The event the "Why" panel explains; None follows the last applied event.
    pub selected: Option<usize>,
    pub rules_problem: Option<RulesProblem>,
    /// A message about the last import, export or link.
    pub notice: Option<String>,
    /// Show `/proc/net/nf_conntrack` text instead of the table.
    pub show_raw: bool,
}

/// The preset menu's value for a scenario that is not a preset.
pub const CUSTOM: &str = "custom";

/// Added to a scenario's title when its rules are changed.
const EDITED: &str = " (your rules)";

/// What can happen on the page.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    LoadPreset(String),
    /// A scenario from a link or an import, stepped to `cursor`.
    LoadScenario {
        scenario: Scenario,
        cursor: usize,
        notice: String,
    },
    /// A link's hash (`#s=...`) opened in this tab.
    OpenLink(String),
    /// A pcap file's bytes, replacing the timeline (rules are kept).
    ImportPcap {
        name: String,
        data: Vec<u8>,
    },
    Step,
    Back,
    Reset,
    /// Apply or undo events until `cursor` events are applied.
    Seek(usize),
    TogglePlay,
    SetSpeed(Speed),
    /// One play step (timed play).
    PlayTick,
    /// Steps until `deadline_ms` (on [`now_ms`]'s clock) passes.
    PlayFrame {
        deadline_ms: f64,
    },
    /// A crafted packet, sent now.
    Send {
        from: Iface,
        bytes: Vec<u8>,
        note: String,
    },
    /// Let time pass.
    Wait(u64),
    /// Let time pass until the next entry expires.
    WaitNextExpiry,
    ApplyRules {
        rules: String,
        max_entries: u32,
    },
    Select(usize),
    ShowRaw(bool),
    Notice(Option<String>),
}

/// Milliseconds on a monotonic-enough clock, for play's frame budget.
pub fn now_ms() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}

impl AppState {
    /// The page at a preset's start.
    pub fn with_preset(id: &str) -> AppState {
        let preset = presets::preset(id)
            .or_else(|| presets::preset(DEFAULT_PRESET))
            .expect("the default preset exists");
        AppState {
            session: Session::new(preset.scenario()).expect("presets load"),
            preset: preset.id.to_string(),
            generation: 0,
            playing: false,
            speed: Speed::PerSecond(2),
            selected: None,
            rules_problem: None,
            notice: None,
            show_raw: false,
        }
    }

    /// The page for a link's hash (`#s=...`), or the default preset. A broken link
    /// opens the default preset with a notice saying why.
    pub fn from_hash(hash: &str) -> AppState {
        let mut state = AppState::with_preset(DEFAULT_PRESET);
        if hash.starts_with(crate::share::PREFIX) {
            state.load_link(hash);
        }
        state
    }

    fn load_link(&mut self, hash: &str) {
        match crate::share::decode(hash) {
            Ok((scenario, cursor)) => self.load(
                scenario,
                cursor,
                "Opened the scenario from the link.".into(),
            ),
            Err(e) => self.notice = Some(format!("The link could not be opened: {e}")),
        }
    }

    /// The event the "Why" panel explains.
    pub fn explained(&self) -> Option<usize> {
        match self.selected {
            Some(i) if i < self.session.cursor() => Some(i),
            _ => self.session.cursor().checked_sub(1),
        }
    }

    fn load(&mut self, scenario: Scenario, cursor: usize, notice: String) {
        match Session::new(scenario) {
            Ok(mut session) => {
                session.seek(cursor);
                self.session = session;
                self.preset = CUSTOM.into();
                self.after_new_scenario();
                self.notice = Some(notice);
            }
            Err(e) => self.notice = Some(format!("The scenario could not be loaded: {e}")),
        }
    }

    fn after_new_scenario(&mut self) {
        self.generation += 1;
        self.playing = false;
        self.selected = None;
        self.rules_problem = None;
        self.notice = None;
    }

    fn import_pcap(&mut self, name: &str, data: &[u8]) {
        let capture = match pcap::read(data) {
            Ok(c) => c,
            Err(e) => {
                self.notice = Some(format!("{name} could not be imported: {e}"));
                return;
            }
        };
        let topology = self.session.firewall().topology;
        let events = capture
            .packets
            .into_iter()
            .map(|p| {
                let src = match p.bytes.get(12..16) {
                    Some(a) => std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]),
                    None => std::net::Ipv4Addr::UNSPECIFIED,
                };
                Event {
                    at_ms: p.time_us / 1000,
                    kind: EventKind::Packet {
                        from: topology.route(src),
                        bytes: p.bytes,
                    },
                    note: String::new(),
                }
            })
            .collect::<Vec<_>>();
        let count = events.len();
        let old = self.session.scenario();
        let scenario = Scenario {
            title: format!("Imported: {name}"),
            description: format!(
                "{count} packets imported from {name}. Each enters from the LAN when its \
                 source is in 192.168.1.0/24, otherwise from the WAN. The rules are the ones \
                 that were loaded."
            ),
            rules: old.rules.clone(),
            sysctl: old.sysctl.clone(),
            events,
        };
        let skipped = match capture.skipped {
            0 => String::new(),
            n => format!(" ({n} frames without IPv4 skipped)"),
        };
        self.load(
            scenario,
            0,
            format!("Imported {count} packets from {name}{skipped}."),
        );
    }

    fn apply_rules(&mut self, rules: &str, max_entries: u32) {
        let default_max = wasmwall::Settings::default().max;
        let sysctl = self.session.scenario().sysctl_with(
            "max",
            (max_entries != default_max).then(|| max_entries.to_string()),
        );
        match self.session.set_rules(rules, sysctl) {
            Ok(()) => {
                self.rules_problem = None;
                self.preset = CUSTOM.into();
                let title = self.session.scenario().title.clone();
                if !title.ends_with(EDITED) {
                    self.session.rename(format!("{title}{EDITED}"));
                }
            }
            Err(e) => self.rules_problem = Some(RulesProblem::new(e, rules)),
        }
    }
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::LoadPreset(id) => {
                if let Some(p) = presets::preset(&id) {
                    s.session = Session::new(p.scenario()).expect("presets load");
                    s.preset = p.id.into();
                    s.after_new_scenario();
                }
            }
            Action::LoadScenario {
                scenario,
                cursor,
                notice,
            } => s.load(scenario, cursor, notice),
            Action::OpenLink(hash) => s.load_link(&hash),
            Action::ImportPcap { name, data } => s.import_pcap(&name, &data),
            Action::Step => {
                s.session.step();
                s.selected = None;
            }
            Action::Back => {
                s.session.back();
                s.playing = false;
                s.selected = None;
            }
            Action::Reset => {
                // A preset comes back as it was loaded, without the packets and waits
                // added since; any other scenario goes back to its start.
                match presets::preset(&s.preset) {
                    Some(p) => s.session = Session::new(p.scenario()).expect("presets load"),
                    None => s.session.reset(),
                }
                s.playing = false;
                s.selected = None;
            }
            Action::Seek(cursor) => {
                s.session.seek(cursor);
                s.selected = None;
            }
            Action::TogglePlay => {
                if s.playing {
                    s.playing = false;
                } else if s.session.at_end() {
                    s.notice = Some("The timeline is at its end: reset it or add packets.".into());
                } else {
                    s.playing = true;
                    s.selected = None;
                }
            }
            Action::SetSpeed(speed) => s.speed = speed,
            Action::PlayTick => {
                if s.playing {
                    s.session.step();
                    s.playing = !s.session.at_end();
                }
            }
            Action::PlayFrame { deadline_ms } => {
                if s.playing {
                    // At least one step per frame, however slow the frame was.
                    let mut first = true;
                    s.session
                        .step_while(|| std::mem::take(&mut first) || now_ms() < deadline_ms);
                    s.playing = !s.session.at_end();
                }
            }
            Action::Send { from, bytes, note } => {
                s.session.insert(EventKind::Packet { from, bytes }, note, 0);
                s.selected = None;
            }
            Action::Wait(ms) => {
                s.session.insert(
                    EventKind::Wait,
                    format!("+{}", crate::view::fmt_time(ms)),
                    ms,
                );
                s.selected = None;
            }
            Action::WaitNextExpiry => {
                if let Some(at) = s.session.next_expiry_ms() {
                    let ms = at - s.session.clock_ms();
                    s.session
                        .insert(EventKind::Wait, "until the next entry expires", ms);
                    s.selected = None;
                }
            }
            Action::ApplyRules { rules, max_entries } => s.apply_rules(&rules, max_entries),
            Action::Select(i) => s.selected = Some(i),
            Action::ShowRaw(on) => s.show_raw = on,
            Action::Notice(n) => s.notice = n,
        }
        Rc::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reduce(state: AppState, action: Action) -> AppState {
        (*Rc::new(state).reduce(action)).clone()
    }

    #[test]
    fn presets_load_at_their_start() {
        let s = AppState::with_preset("udp");
        assert_eq!(s.preset, "udp");
        let s = reduce(s, Action::Step);
        assert_eq!(s.session.cursor(), 1);
        let s = reduce(s, Action::LoadPreset("tcp-handshake".into()));
        assert_eq!((s.session.cursor(), s.session.clock_ms()), (0, 0));
        assert_eq!(s.generation, 1);
        assert_eq!(AppState::with_preset("no-such").preset, DEFAULT_PRESET);
    }

    #[test]
    fn reset_brings_a_preset_back_as_it_was_loaded() {
        let mut s = reduce(AppState::with_preset("tcp-handshake"), Action::Wait(10_000));
        s = reduce(s, Action::Step);
        assert_eq!(s.session.len(), 12);
        s = reduce(s, Action::Reset);
        assert_eq!(
            (s.session.len(), s.session.cursor(), s.session.clock_ms()),
            (11, 0, 0)
        );
        assert_eq!(
            s.session.scenario(),
            &presets::preset("tcp-handshake").unwrap().scenario()
        );

        // A scenario of one's own keeps what was added.
        s = reduce(
            s,
            Action::ApplyRules {
                rules: presets::GUIDE_RULES.into(),
                max_entries: 4096,
            },
        );
        s = reduce(s, Action::Wait(1_000));
        s = reduce(s, Action::Reset);
        assert_eq!((s.session.len(), s.session.cursor()), (12, 0));
    }

    #[test]
    fn play_runs_to_the_end_and_stops() {
        let mut s = reduce(AppState::with_preset("tcp-handshake"), Action::TogglePlay);
        assert!(s.playing);
        for _ in 0..20 {
            s = reduce(s, Action::PlayTick);
        }
        assert!(!s.playing);
        assert!(s.session.at_end());
        let s = reduce(s, Action::TogglePlay);
        assert!(!s.playing && s.notice.is_some());
        let s = reduce(s, Action::Reset);
        let s = reduce(s, Action::TogglePlay);
        let s = reduce(
            s,
            Action::PlayFrame {
                deadline_ms: now_ms() + 1000.0,
            },
        );
        assert!(s.session.at_end() && !s.playing);
    }

    #[test]
    fn rules_errors_name_their_line_and_keep_the_old_rules() {
        let s = AppState::with_preset("tcp-handshake");
        let rules = s.session.scenario().rules.clone();
        let s = reduce(
            s,
            Action::ApplyRules {
                rules: "-P FORWARD DROP\n-A FORWARD --bogus -j ACCEPT".into(),
                max_entries: 4096,
            },
        );
        let p = s.rules_problem.clone().unwrap();
        assert_eq!(p.line, Some(2));
        assert!(p.text().starts_with("line 2, column "), "{}", p.text());
        assert_eq!(s.session.scenario().rules, rules);
        let s = reduce(
            s,
            Action::ApplyRules {
                rules: rules.clone(),
                max_entries: 16,
            },
        );
        assert_eq!(s.rules_problem, None);
        assert_eq!(s.preset, CUSTOM);
        assert!(s.session.scenario().title.ends_with(EDITED));
        assert_eq!(s.session.firewall().conntrack().settings().max, 16);
        assert_eq!(s.session.scenario().sysctl_value("max"), Some("16"));
    }

    #[test]
    fn pcap_imports_replace_the_timeline() {
        let preset = AppState::with_preset("icmp-echo");
        let packets: Vec<(u64, Vec<u8>)> = preset
            .session
            .scenario()
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Packet { bytes, .. } => Some((e.at_ms * 1000, bytes.clone())),
                EventKind::Wait => None,
            })
            .collect();
        let refs: Vec<(u64, &[u8])> = packets.iter().map(|(t, b)| (*t, b.as_slice())).collect();
        let file = pcap::write(&refs);
        let s = reduce(
            AppState::with_preset("blank"),
            Action::ImportPcap {
                name: "ping.pcap".into(),
                data: file,
            },
        );
        assert_eq!(s.preset, CUSTOM);
        let imported = &s.session.scenario().events;
        let original = &preset.session.scenario().events;
        assert_eq!(imported.len(), original.len());
        for (a, b) in imported.iter().zip(original) {
            assert_eq!((a.at_ms, &a.kind), (b.at_ms, &b.kind));
        }
        assert!(s.notice.unwrap().contains("Imported 6 packets"));
        let bad = reduce(
            AppState::with_preset("blank"),
            Action::ImportPcap {
                name: "x.pcap".into(),
                data: vec![1, 2, 3],
            },
        );
        assert!(bad.notice.unwrap().contains("could not be imported"));
        assert_eq!(bad.preset, "blank");
    }

    #[test]
    fn links_open_where_they_were_made() {
        let mut s = AppState::with_preset("ftp");
        for _ in 0..5 {
            s = reduce(s, Action::Step);
        }
        s = reduce(s, Action::Wait(10_000));
        let hash = crate::share::encode(s.session.scenario(), s.session.cursor());
        let opened = AppState::from_hash(&hash);
        assert_eq!(opened.session.cursor(), 6);
        assert_eq!(opened.session.clock_ms(), s.session.clock_ms());
        assert_eq!(
            crate::view::table_view(&opened.session),
            crate::view::table_view(&s.session)
        );
        let broken = AppState::from_hash("#s=AAAA");
        assert!(broken.notice.unwrap().contains("could not be opened"));
        assert_eq!(AppState::from_hash("#conntrack").preset, DEFAULT_PRESET);
    }

    #[test]
    fn the_explained_event_follows_the_timeline_unless_chosen() {
        let mut s = AppState::with_preset("tcp-handshake");
        assert_eq!(s.explained(), None);
        s = reduce(s, Action::Step);
        s = reduce(s, Action::Step);
        assert_eq!(s.explained(), Some(1));
        s = reduce(s, Action::Select(0));
        assert_eq!(s.explained(), Some(0));
        s = reduce(s, Action::Step);
        assert_eq!(s.explained(), Some(2));
        s = reduce(s, Action::WaitNextExpiry);
        assert_eq!(s.session.cursor(), 4);
    }
}

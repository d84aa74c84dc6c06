//! Embedding the wasmwall component (`wit/`, built from `engine/`) in wasmtime.
//!
//! [`Runtime`] compiles the component once; [`Runtime::instantiate`] makes a
//! [`Firewall`]: one component instance holding one `firewall` resource, with a method
//! per WIT function. Every method returns a `wasmtime::Result<T>`, whose error is a trap
//! or a host failure (never expected: the component refuses bad input with the typed
//! errors inside `T`).

use std::path::{Path, PathBuf};
use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::error::Context;
use wasmtime::{format_err, Engine, Result, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The bindings `wasmtime::component::bindgen!` generates for `wit/`.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "firewall",
        additional_derives: [PartialEq, Eq],
    });
}

pub use bindings::exports::wasmwall::firewall::types::*;

/// The environment variable that names the component file.
pub const COMPONENT_ENV: &str = "WASMWALL_COMPONENT";

/// The component file: `$WASMWALL_COMPONENT`, or where
/// `cargo build -p wasmwall --lib --target wasm32-wasip2 --release` puts it (in
/// `$CARGO_TARGET_DIR` when that is set, else in the workspace's `target/`).
pub fn component_path() -> PathBuf {
    if let Some(p) = std::env::var_os(COMPONENT_ENV) {
        return PathBuf::from(p);
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    };
    target.join("wasm32-wasip2/release/wasmwall.wasm")
}

/// A config with Linux's defaults: `max-entries` entries, no other settings, no trace,
/// no events.
pub fn config(max_entries: u32) -> Config {
    Config {
        max_entries,
        settings: Vec::new(),
        trace: false,
        events: false,
    }
}

/// What each store holds: the WASI context the Rust runtime inside the component needs.
struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The compiled component, linked with WASI, ready to instantiate any number of times.
pub struct Runtime {
    engine: Engine,
    pre: bindings::FirewallPre<Host>,
}

impl Runtime {
    /// Compiles the component at [`component_path`].
    pub fn new() -> Result<Runtime> {
        Runtime::load(&component_path())
    }

    /// Compiles the component at `path`.
    pub fn load(path: &Path) -> Result<Runtime> {
        let engine = Engine::default();
        let component = Component::from_file(&engine, path).with_context(|| {
            format!(
                "cannot load the wasmwall component {} (build it with \
                 `cargo build -p wasmwall --lib --target wasm32-wasip2 --release`, \
                 or set {COMPONENT_ENV})",
                path.display()
            )
        })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let pre = bindings::FirewallPre::new(linker.instantiate_pre(&component)?)?;
        Ok(Runtime { engine, pre })
    }

    /// A new instance with one firewall set up by `config`; the inner error is the
    /// component's refusal of the config.
    pub fn instantiate(&self, config: &Config) -> Result<Result<Firewall, ConfigError>> {
        let wasi = WasiCtx::builder().inherit_stderr().build();
        let mut store = Store::new(
            &self.engine,
            Host {
                wasi,
                table: ResourceTable::new(),
            },
        );
        let bindings = self.pre.instantiate(&mut store)?;
        let made = bindings
            .wasmwall_firewall_engine()
            .firewall()
            .call_constructor(&mut store, config)?;
        Ok(made.map(|resource| Firewall {
            store,
            bindings,
            resource,
        }))
    }

    /// Like [`instantiate`](Self::instantiate), for configs known to be valid.
    pub fn firewall(&self, config: &Config) -> Result<Firewall> {
        self.instantiate(config)?
            .map_err(|e| format_err!("the component refused the config: {e:?}"))
    }
}

/// One component instance and its firewall: a rule set and a connection table.
pub struct Firewall {
    store: Store<Host>,
    bindings: bindings::Firewall,
    resource: ResourceAny,
}

macro_rules! forward {
    ($(#[$doc:meta])* $name:ident => $call:ident($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        $(#[$doc])*
        pub fn $name(&mut self, $($arg: $ty),*) -> Result<$ret> {
            let guest = self.bindings.wasmwall_firewall_engine().firewall();
            guest.$call(&mut self.store, self.resource, $($arg),*)
        }
    };
}

impl Firewall {
    forward!(
        /// `load-rules`: replaces the rule set, atomically.
        load_rules => call_load_rules(text: &str) -> Result<RulesetInfo, RulesError>
    );
    forward!(
        /// `save-rules`: the rule set as `iptables-save` prints it.
        save_rules => call_save_rules(with_counters: bool) -> String
    );
    forward!(
        /// `counters`: every table's counters.
        counters => call_counters() -> Vec<TableCounters>
    );
    forward!(
        /// `process`: one raw IPv4 packet arriving on `ingress` at `now_ms`.
        process => call_process(now_ms: u64, ingress: Iface, bytes: &[u8])
            -> Result<Decision, ProcessError>
    );
    forward!(
        /// `process-batch`: many packets in one call.
        process_batch => call_process_batch(packets: &[Packet])
            -> Vec<Result<Decision, ProcessError>>
    );
    forward!(
        /// `advance`: moves the clock, expiring entries.
        advance => call_advance(now_ms: u64) -> ()
    );
    forward!(
        /// `flush`: empties the table (`conntrack -F`).
        flush => call_flush(now_ms: u64) -> ()
    );
    forward!(
        /// `set-setting`: changes one conntrack sysctl.
        set_setting => call_set_setting(name: &str, value: &str) -> Result<(), ConfigError>
    );
    forward!(
        /// `settings`: every conntrack sysctl and its value.
        settings => call_settings() -> Vec<Setting>
    );
    forward!(
        /// `entries`: the table's entries.
        entries => call_entries() -> Vec<Entry>
    );
    forward!(
        /// `render-table`: `/proc/net/nf_conntrack`.
        render_table => call_render_table() -> String
    );
    forward!(
        /// `render-expectations`: `/proc/net/nf_conntrack_expect`.
        render_expectations => call_render_expectations() -> String
    );
    forward!(
        /// `drain-events`: the connection events since the last call.
        drain_events => call_drain_events() -> Vec<Event>
    );
    forward!(
        /// `stats`: the tracker's counters.
        stats => call_stats() -> Stats
    );
    forward!(
        /// `export-state`: the connection tracking state as bytes.
        export_state => call_export_state() -> Vec<u8>
    );
    forward!(
        /// `import-state`: replaces the connection tracking state.
        import_state => call_import_state(bytes: &[u8]) -> Result<(), StateError>
    );
}

impl Drop for Firewall {
    fn drop(&mut self) {
        // Runs the component's destructor; the store goes away right after anyway.
        let _ = self.resource.resource_drop(&mut self.store);
    }
}

//! The smallest wasmtime host of the wasmwall component (README, "The WASI component"):
//! one firewall, a stateful rule set, one packet, the table.
//!
//! `cargo run -p wasmwall-host --example minimal` after building the component.

use wasmtime::component::{bindgen, Component, Linker, ResourceTable};
use wasmtime::{Engine, Result, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

bindgen!({ path: "../../wit", world: "firewall" });
use exports::wasmwall::firewall::types::{Config, Iface};

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

fn main() -> Result<()> {
    let engine = Engine::default();
    let component = Component::from_file(&engine, wasmwall_host::component_path())?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    let host = Host {
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(&engine, host);
    let world = Firewall::instantiate(&mut store, &component, &linker)?;
    let api = world.wasmwall_firewall_engine().firewall();

    let config = Config {
        max_entries: 65536,
        settings: vec![],
        trace: true,
        events: false,
    };
    let fw = api
        .call_constructor(&mut store, &config)?
        .expect("valid config");
    let rules = "-P FORWARD DROP\n\
                 -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n\
                 -A FORWARD -i lan -m conntrack --ctstate NEW -j ACCEPT\n";
    api.call_load_rules(&mut store, fw, rules)?
        .expect("rules load");

    // A TCP SYN from 192.168.1.10:40000 to 203.0.113.5:80, as a capture would have it.
    let syn = wasmwall::wire::PacketSpec {
        ip: wasmwall::wire::IpSpec::new([192, 168, 1, 10].into(), [203, 0, 113, 5].into()),
        transport: wasmwall::wire::Transport::Tcp(wasmwall::wire::TcpSpec {
            sport: 40000,
            dport: 80,
            flags: "S".into(),
            seq: 1000,
            ack: 0,
            win: 65535,
            urg: 0,
            options: Default::default(),
            payload: vec![],
            bad_csum: false,
        }),
    }
    .build()
    .expect("a SYN builds");
    match api.call_process(&mut store, fw, 0, Iface::Lan, &syn)? {
        Ok(d) => println!("{:?} {:?} {:?}", d.outcome, d.ct_state, d.trace),
        Err(e) => println!("not a packet: {e:?}"),
    }
    print!("{}", api.call_render_table(&mut store, fw)?);
    fw.resource_drop(&mut store)?;
    Ok(())
}

//! `wasmwall-bench`: the wasmwall component in wasmtime against the native engine.
//!
//! ```text
//! cargo run -p wasmwall-host --release --bin wasmwall-bench -- --pcap FILE [--rules FILE]
//!     [--batch N] [--max-entries N] [--runs N] [--component FILE]
//! cargo run -p wasmwall-host --release --bin wasmwall-bench -- [--conns N] [--concurrency N]
//!     [--batches 1,16,64,256] [--reps N] [--component FILE]
//! ```
//!
//! With `--pcap`, a capture is replayed through `process-batch` and through the native
//! `Firewall::process_batch` (see `capture.rs`); without it, a generated churn workload
//! compares `process` with `process-batch` at several batch sizes (see `churn.rs`).

mod capture;
mod churn;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.iter().any(|a| a == "--pcap") {
        capture::parse(&args).and_then(capture::run)
    } else {
        churn::parse(&args).and_then(churn::run)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasmwall-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

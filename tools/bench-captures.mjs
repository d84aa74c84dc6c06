// The capture benchmark in headless Chromium, run by `cargo xtask bench-captures`:
//
//   node tools/bench-captures.mjs URL RULES_FILE MAX_ENTRIES BATCH RUNS NAME...
//
// URL serves `pkg/wasmwall_bench_web.js` (wasm-tests/bench built for
// wasm32-unknown-unknown) and `captures/NAME`. For each capture the page fetches the
// file, reads it into the engine's memory (not timed), then replays it RUNS times, each
// through a fresh firewall with the rules, in batches of BATCH packets; only the replay
// loop is timed, with performance.now(). Prints one JSON line per capture:
// {"capture":NAME,"packets":N,"ms":best,"mpps":X,"forwarded":F,"dropped":D,...}.
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [url, rulesFile, maxEntries, batch, runs, ...names] = process.argv.slice(2);
if (!url || !names.length) {
  console.error('usage: node tools/bench-captures.mjs URL RULES_FILE MAX_ENTRIES BATCH RUNS NAME...');
  process.exit(2);
}
const rules = readFileSync(rulesFile, 'utf8');

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const version = browser.version();
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.log(`page: ${m.text()}`));
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(url, { waitUntil: 'load' });
  console.log(`chromium ${version}`);
  for (const name of names) {
    const result = await page.evaluate(async ({ name, rules, maxEntries, batch, runs }) => {
      const m = await import('./pkg/wasmwall_bench_web.js');
      await m.default();
      const response = await fetch(`./captures/${name}`);
      if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
      const bench = new m.Bench(new Uint8Array(await response.arrayBuffer()));
      const packets = bench.packets();
      const each = [];
      for (let i = 0; i < runs; i += 1) each.push(JSON.parse(bench.run(rules, maxEntries, batch)));
      bench.free();
      const best = each.reduce((a, b) => (b.ms < a.ms ? b : a));
      return { capture: name, packets, ...best, mpps: packets / best.ms / 1000, runs: each.map((r) => r.ms) };
    }, { name, rules, maxEntries: Number(maxEntries), batch: Number(batch), runs: Number(runs) });
    const times = result.runs.map((ms) => `${(ms / 1000).toFixed(3)} s`).join(', ');
    console.log(`browser ${name}: ${result.packets} packets, runs ${times}; ${result.forwarded} forwarded, ${result.dropped} dropped`);
    delete result.runs;
    console.log(JSON.stringify(result));
  }
} finally {
  await browser.close();
}

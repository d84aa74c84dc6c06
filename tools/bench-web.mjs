// Benchmark of the wasmwall page in headless Chromium, run by `cargo xtask bench-web`:
//
//   node tools/bench-web.mjs http://127.0.0.1:PORT/
//
// Generates two captures, imports each through the page's pcap input, and reports:
//   1. the release .wasm size, raw and gzipped (budget: 400 KB gzipped);
//   2. replaying 10 000 packets (1000 TCP connections of 10 packets, 50 at a time) with
//      play at full speed: wall time, packets per second and the frame times while it
//      plays (the page must keep painting: frames are the measure of interactivity);
//   3. a 4096-entry table (4096 UDP flows fill the default nf_conntrack_max): the time
//      from a click to the next painted frame for step, back and +1 s, which all
//      re-render the table, and for the +10 s after which every entry has expired.
// It is a benchmark, not a test: it fails only if the page breaks.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const [url] = process.argv.slice(2);
if (!url) {
  console.error('usage: node tools/bench-web.mjs URL');
  process.exit(2);
}

// --- Packets, built byte by byte with correct checksums. ---
function sum16(bytes, init = 0) {
  let s = init;
  for (let i = 0; i + 1 < bytes.length; i += 2) s += (bytes[i] << 8) | bytes[i + 1];
  if (bytes.length % 2) s += bytes[bytes.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
const checksum = (bytes, init = 0) => (~sum16(bytes, init)) & 0xffff;
const addr = (text) => text.split('.').map(Number);

function ipv4(src, dst, proto, l4, id) {
  const h = new Uint8Array(20 + l4.length);
  const total = h.length;
  h.set([0x45, 0, total >> 8, total & 0xff, id >> 8 & 0xff, id & 0xff, 0, 0, 64, proto, 0, 0, ...addr(src), ...addr(dst)]);
  const c = checksum(h.subarray(0, 20));
  h[10] = c >> 8; h[11] = c & 0xff;
  h.set(l4, 20);
  return h;
}

function pseudo(src, dst, proto, len) {
  return sum16(new Uint8Array([...addr(src), ...addr(dst), 0, proto, len >> 8, len & 0xff]));
}

const FLAGS = { F: 1, S: 2, R: 4, P: 8, A: 16 };
function tcp(src, sport, dst, dport, flags, seq, ack, payload = new Uint8Array(0)) {
  const t = new Uint8Array(20 + payload.length);
  const f = [...flags].reduce((a, c) => a | FLAGS[c], 0);
  const dv = new DataView(t.buffer);
  dv.setUint16(0, sport); dv.setUint16(2, dport); dv.setUint32(4, seq >>> 0); dv.setUint32(8, ack >>> 0);
  t[12] = 5 << 4; t[13] = f; dv.setUint16(14, 64240);
  t.set(payload, 20);
  dv.setUint16(16, checksum(t, pseudo(src, dst, 6, t.length)));
  return ipv4(src, dst, 6, t, seq & 0xffff);
}

function udp(src, sport, dst, dport, payload) {
  const u = new Uint8Array(8 + payload.length);
  const dv = new DataView(u.buffer);
  dv.setUint16(0, sport); dv.setUint16(2, dport); dv.setUint16(4, u.length);
  u.set(payload, 8);
  dv.setUint16(6, checksum(u, pseudo(src, dst, 17, u.length)) || 0xffff);
  return ipv4(src, dst, 17, u, sport);
}

function pcap(packets) {
  const size = 24 + packets.reduce((a, p) => a + 16 + p.bytes.length, 0);
  const out = Buffer.alloc(size);
  out.writeUInt32LE(0xa1b2c3d4, 0); out.writeUInt16LE(2, 4); out.writeUInt16LE(4, 6);
  out.writeUInt32LE(65535, 16); out.writeUInt32LE(228, 20);
  let at = 24;
  for (const p of packets) {
    out.writeUInt32LE(Math.floor(p.us / 1e6), at); out.writeUInt32LE(p.us % 1e6, at + 4);
    out.writeUInt32LE(p.bytes.length, at + 8); out.writeUInt32LE(p.bytes.length, at + 12);
    out.set(p.bytes, at + 16);
    at += 16 + p.bytes.length;
  }
  return out;
}

/// 1000 TCP connections of 10 packets (handshake, a request and its answer, both FINs),
/// 50 connections at a time, interleaved; 2 ms between packets.
function tenThousand() {
  const req = new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n');
  const res = new TextEncoder().encode('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
  const packets = [];
  let us = 0;
  for (let group = 0; group < 20; group += 1) {
    const conns = [];
    for (let k = 0; k < 50; k += 1) {
      const i = group * 50 + k;
      conns.push({ c: `192.168.1.${10 + (i % 200)}`, s: `203.0.113.${1 + (i % 250)}`, cp: 20000 + i, cs: 1000 + i * 7, ss: 500000 + i * 13 });
    }
    const phases = [
      (x) => tcp(x.c, x.cp, x.s, 80, 'S', x.cs, 0),
      (x) => tcp(x.s, 80, x.c, x.cp, 'SA', x.ss, x.cs + 1),
      (x) => tcp(x.c, x.cp, x.s, 80, 'A', x.cs + 1, x.ss + 1),
      (x) => tcp(x.c, x.cp, x.s, 80, 'PA', x.cs + 1, x.ss + 1, req),
      (x) => tcp(x.s, 80, x.c, x.cp, 'A', x.ss + 1, x.cs + 1 + req.length),
      (x) => tcp(x.s, 80, x.c, x.cp, 'PA', x.ss + 1, x.cs + 1 + req.length, res),
      (x) => tcp(x.c, x.cp, x.s, 80, 'A', x.cs + 1 + req.length, x.ss + 1 + res.length),
      (x) => tcp(x.c, x.cp, x.s, 80, 'FA', x.cs + 1 + req.length, x.ss + 1 + res.length),
      (x) => tcp(x.s, 80, x.c, x.cp, 'FA', x.ss + 1 + res.length, x.cs + 2 + req.length),
      (x) => tcp(x.c, x.cp, x.s, 80, 'A', x.cs + 2 + req.length, x.ss + 2 + res.length),
    ];
    for (const phase of phases) {
      for (const x of conns) {
        packets.push({ us, bytes: phase(x) });
        us += 2000;
      }
    }
  }
  return packets;
}

/// 4096 DNS queries from different LAN ports: 4096 [UNREPLIED] UDP entries.
function fourThousandFlows() {
  const q = new TextEncoder().encode('query');
  return Array.from({ length: 4096 }, (_, i) => ({
    us: i * 1000,
    bytes: udp(`192.168.1.${10 + (i % 100)}`, 10000 + i, '203.0.113.53', 53, q),
  }));
}

// --- Measuring in the page. ---
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50: q(0.5), p95: q(0.95), max: s[s.length - 1] };
};
const ms = (x) => `${x.toFixed(1)} ms`;

async function importCapture(page, name, buffer) {
  await page.selectOption('[data-testid=preset]', 'blank');
  const t0 = Date.now();
  await page.locator('[data-testid=pcap-import]').setInputFiles({ name, mimeType: 'application/vnd.tcpdump.pcap', buffer });
  await page.waitForFunction((n) => document.querySelector('[data-testid=position]')?.textContent === `Step 0 of ${n}`, name === 'ten-thousand.pcap' ? 10000 : 4096, { timeout: 60_000 });
  return Date.now() - t0;
}

/// Plays to the end at full speed, recording every frame's duration.
async function playToEnd(page, total) {
  await page.selectOption('[data-testid=speed]', 'max');
  return page.evaluate(async (n) => {
    const frames = [];
    let last = performance.now();
    let done = false;
    const loop = (t) => {
      frames.push(t - last);
      last = t;
      if (!done) requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
    const t0 = performance.now();
    document.querySelector('[data-testid=play]').click();
    await new Promise((resolve) => {
      const check = () => {
        if (document.querySelector('[data-testid=position]').textContent === `Step ${n} of ${n}`) resolve();
        else setTimeout(check, 20);
      };
      check();
    });
    done = true;
    return { wall: performance.now() - t0, frames: frames.slice(1) };
  }, total);
}

/// Time from clicking `testid` to the next painted frame.
function clickToPaint(page, testid) {
  return page.evaluate(async (id) => {
    const t0 = performance.now();
    document.querySelector(`[data-testid=${id}]`).click();
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    return performance.now() - t0;
  }, testid);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
let failed = false;
try {
  const wasm = readFileSync(new URL('../pkg/wasmwall_web_bg.wasm', import.meta.url));
  const gz = gzipSync(wasm, { level: 9 }).length;
  console.log(`bench: wasm ${(wasm.length / 1024).toFixed(0)} KB raw, ${(gz / 1024).toFixed(0)} KB gzipped (budget 400 KB gzipped: ${gz <= 400 * 1024 ? 'within' : 'OVER'})`);

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'load' });
  await page.locator('[data-testid=step]').waitFor({ timeout: 20_000 });
  console.log(`bench: page ready in ${Date.now() - t0} ms`);

  // 10 000 packets.
  const big = pcap(tenThousand());
  console.log(`bench: importing 10 000 packets took ${await importCapture(page, 'ten-thousand.pcap', big)} ms (including the page's first render of them)`);
  const play = await playToEnd(page, 10000);
  const f = stats(play.frames);
  console.log(`bench: replaying 10 000 packets at full speed: ${(play.wall / 1000).toFixed(2)} s, ${(10000 / (play.wall / 1000)).toFixed(0)} packets/s, ${f.n} frames`);
  console.log(`bench:   frame time p50 ${ms(f.p50)}, p95 ${ms(f.p95)}, max ${ms(f.max)}`);
  const entries = await page.locator('[data-testid=ct-entry]').count();
  const states = await page.locator('[data-testid=ct-entry]').evaluateAll((r) => [...new Set(r.map((x) => x.dataset.state))]);
  console.log(`bench:   table after the replay: ${entries} entries, states ${states.join(', ')}`);
  const backs = [];
  for (let i = 0; i < 10; i += 1) backs.push(await clickToPaint(page, 'back'));
  const b = stats(backs);
  console.log(`bench:   back (exact undo) after 10 000 packets, click to paint: p50 ${ms(b.p50)}, max ${ms(b.max)}`);

  // 4096 entries.
  await importCapture(page, 'four-thousand.pcap', pcap(fourThousandFlows()));
  const fill = await playToEnd(page, 4096);
  const ff = stats(fill.frames);
  console.log(`bench: filling a 4096-entry table at full speed: ${(fill.wall / 1000).toFixed(2)} s, frame time p50 ${ms(ff.p50)}, p95 ${ms(ff.p95)}, max ${ms(ff.max)}`);
  const rows = await page.locator('[data-testid=ct-entry]').count();
  console.log(`bench:   rows rendered: ${rows}`);
  if (rows !== 4096) {
    failed = true;
    console.log('bench: FAIL the table does not show 4096 entries');
  }
  // Back then step again, so that each measured click changes the table.
  for (const [label, id, undo] of [['back', 'back', 'step'], ['step', 'step', null], ['+1 s (every timeout changes)', 'clock-advance-1', null]]) {
    const times = [];
    for (let i = 0; i < 8; i += 1) {
      if (id === 'step') await clickToPaint(page, 'back');
      times.push(await clickToPaint(page, id));
      if (undo) await clickToPaint(page, undo);
    }
    const t = stats(times);
    console.log(`bench:   ${label} with 4096 rows, click to paint: p50 ${ms(t.p50)}, p95 ${ms(t.p95)}, max ${ms(t.max)}`);
  }
  // The flows were created over 4 s and 8 s have passed since; the second +10 s passes
  // the UDP timeout (30 s) of the older half of them.
  await clickToPaint(page, 'clock-advance');
  const expire = await clickToPaint(page, 'clock-advance');
  const left = await page.locator('[data-testid=ct-entry]').count();
  console.log(`bench:   +10 s after which ${4096 - left} entries have expired (${left} left): ${ms(expire)}`);
  const comeBack = await clickToPaint(page, 'back');
  console.log(`bench:   back, bringing them back: ${ms(comeBack)}`);
  const toggle = await page.evaluate(async () => {
    const t0 = performance.now();
    document.querySelector('[data-testid=ct-raw-toggle]').click();
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    return performance.now() - t0;
  });
  console.log(`bench:   showing the 4096-line /proc text: ${ms(toggle)}`);
  if (errors.length) {
    failed = true;
    console.log(`bench: FAIL page errors: ${errors.join('; ')}`);
  }
} catch (err) {
  failed = true;
  console.log(`bench: FAIL ${err?.stack ?? err}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);

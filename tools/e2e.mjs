// End-to-end check of the wasmwall page in headless Chromium, run by `cargo xtask test`:
//
//   node tools/e2e.mjs http://127.0.0.1:PORT/ target/screenshots
//
// Opens the page at a laptop and a phone size and does what a person would: steps through
// the TCP handshake preset and checks the conntrack table and the verdict after every
// packet against the kernel's own recording of the same packets, goes back, resets,
// uses the keyboard, moves the clock, crafts a packet, loads a broken ruleset, plays every
// preset, plays and pauses, shares a link and exchanges pcap and trace files. Saves screenshots along the
// way. Exits non-zero on any failed check.
import { mkdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, outDir] = process.argv.slice(2);
if (!url || !outDir) {
  console.error('usage: node tools/e2e.mjs URL SCREENSHOT_DIR');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

// Never hang CI: give up after four minutes.
const watchdog = setTimeout(() => {
  console.error('e2e: timed out after 240 s');
  process.exit(1);
}, 240_000);

const SECTIONS = ['Scenario and timeline', 'Flow diagram', 'Conntrack table', 'Why', 'Rules', 'Craft a packet', 'Share and exchange'];
const WASM = new URL('../pkg/wasmwall_web_bg.wasm', import.meta.url);
const WASM_BUDGET_GZIP = 400 * 1024;
// The kernel's recording of the handshake preset's packets.
const KERNEL = JSON.parse(readFileSync(new URL('../engine/tests/kernel/tcp_close_client_fin.trace.json', import.meta.url)));

let passed = 0;
const failures = [];
function check(view, what, ok, detail = '') {
  if (ok) {
    passed += 1;
    console.log(`e2e: ok    [${view}] ${what}`);
  } else {
    failures.push(`[${view}] ${what}${detail ? `: ${detail}` : ''}`);
    console.log(`e2e: FAIL  [${view}] ${what}${detail ? `: ${detail}` : ''}`);
  }
}

// What the hooks say.
const entries = (page) =>
  page.locator('[data-testid=ct-entry]').evaluateAll((rows) =>
    rows.map((r) => ({
      proto: r.dataset.proto, state: r.dataset.state, flags: r.dataset.flags, timeout: Number(r.dataset.timeout),
    })));
const verdict = (page) =>
  page.locator('[data-testid=verdict]').evaluate((v) => ({ text: v.textContent, ctstate: v.dataset.ctstate ?? '' }));
const raw = (page) => page.locator('[data-testid=ct-raw]').evaluate((e) => e.textContent);
const position = (page) => page.locator('[data-testid=position]').innerText();
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// Waits until `read()` equals `want` (the page renders after the event), then checks.
async function expectSoon(view, what, read, want, timeout = 5_000) {
  const end = Date.now() + timeout;
  let got;
  do {
    got = await read();
    if (same(got, want)) break;
    await new Promise((r) => setTimeout(r, 25));
  } while (Date.now() < end);
  check(view, what, same(got, want), `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  return got;
}

async function shot(page, name) {
  const path = join(outDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`e2e: screenshot ${path}`);
}

async function openPage(context, problems, target = url) {
  const page = await context.newPage();
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()}`));
  const response = await page.goto(target, { waitUntil: 'load' });
  await page.locator('[data-testid=step]').waitFor({ state: 'visible', timeout: 20_000 });
  return { page, response };
}

/// The page as it first opens, at one window size.
async function firstLook(view, page, response, wasmTypes) {
  check(view, 'page loads', response?.ok(), `status ${response?.status()}`);
  check(view, 'app renders the header "wasmwall"', (await page.locator('header h1').innerText()).trim() === 'wasmwall');
  check(view, 'wasm module served as application/wasm', wasmTypes.length === 1 && wasmTypes[0] === 'application/wasm', JSON.stringify(wasmTypes));
  check(view, 'loading message replaced by the app', (await page.locator('.loading').count()) === 0);
  const titles = (await page.locator('main section.panel > h2').allInnerTexts()).map((t) => t.trim());
  check(view, 'every section, in order', same(titles, SECTIONS), JSON.stringify(titles));
  check(view, 'opens on the handshake preset', (await page.locator('[data-testid=preset]').inputValue()) === 'tcp-handshake');
  const footer = await page.locator('footer').innerText();
  check(view, 'footer shows the engine version', /wasmwall engine v\d+\.\d+\.\d+/.test(footer), footer);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(view, 'no horizontal scrolling', overflow <= 0, `page is ${overflow}px wider than the window`);

  await page.getByRole('link', { name: 'Conntrack table' }).click();
  await page.waitForFunction(() => location.hash === '#conntrack', null, { timeout: 5_000 });
  const inView = await page.locator('#conntrack-title').evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.top >= 0 && r.top < window.innerHeight;
  });
  check(view, 'navigation link scrolls to the conntrack table', inView);
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, `home-${view}`);
}

/// The handshake preset, packet by packet, against the kernel's recording.
async function handshake(view, page) {
  await page.selectOption('[data-testid=preset]', 'tcp-handshake');
  await expectSoon(view, 'the preset starts with an empty table', () => entries(page), []);
  const rules = await page.locator('[data-testid=rules]').inputValue();
  check(view, "the preset loads the guide's ruleset", rules === KERNEL.spec.rules.join('\n'), rules);

  const step = page.locator('[data-testid=step]');
  const tables = [];
  await step.click();
  await expectSoon(view, 'SYN: one tcp entry SYN_SENT [UNREPLIED] 119', () => entries(page),
    [{ proto: 'tcp', state: 'SYN_SENT', flags: 'UNREPLIED', timeout: 119 }]);
  await expectSoon(view, 'SYN: ACCEPT, NEW', () => verdict(page), { text: 'ACCEPT', ctstate: 'NEW' });
  tables.push(await raw(page));
  await shot(page, `handshake-syn-sent-${view}`);

  await step.click();
  await expectSoon(view, 'SYN-ACK: SYN_RECV, no flags, 59', () => entries(page),
    [{ proto: 'tcp', state: 'SYN_RECV', flags: '', timeout: 59 }]);
  await expectSoon(view, 'SYN-ACK: ACCEPT, ESTABLISHED', () => verdict(page), { text: 'ACCEPT', ctstate: 'ESTABLISHED' });
  tables.push(await raw(page));
  const why = page.locator('[data-testid=why]');
  check(view, 'Why shows the transition SYN_SENT → SYN_RECV', (await why.innerText()).includes('SYN_SENT → SYN_RECV'));
  check(view, 'Why shows the chain trace', (await why.innerText()).includes('filter:FORWARD:rule:2:ACCEPT'));
  const decisive = await page.locator('[data-testid=rule-row][data-decisive=true]').allInnerTexts();
  check(view, 'the ESTABLISHED,RELATED rule is marked as deciding', decisive.length === 1 && decisive[0].includes('RELATED,ESTABLISHED'), JSON.stringify(decisive));

  await step.click();
  await expectSoon(view, 'ACK: ESTABLISHED [ASSURED] 431999', () => entries(page),
    [{ proto: 'tcp', state: 'ESTABLISHED', flags: 'ASSURED', timeout: 431999 }]);
  await expectSoon(view, 'ACK: ACCEPT, ESTABLISHED', () => verdict(page), { text: 'ACCEPT', ctstate: 'ESTABLISHED' });
  tables.push(await raw(page));
  const arrows = await page.locator('svg.ladder g.flow:not(.pending)').count();
  check(view, 'the diagram draws the three packets', arrows === 3, `${arrows} arrows`);
  await shot(page, `handshake-established-${view}`);

  // Every table exactly as Linux printed it for the same packets: the handshake's, then
  // the data's and the teardown's.
  const kernelTable = (i) => KERNEL.steps[i].result.conntrack_raw.map((l) => `${l}\n`).join('');
  for (let i = 0; i < 3; i += 1) {
    check(view, `step ${i + 1}: /proc/net/nf_conntrack as Linux recorded it`, tables[i] === kernelTable(i), tables[i]);
  }
  for (let i = 3; i < KERNEL.steps.length; i += 1) {
    await step.click();
    const state = KERNEL.steps[i].result.conntrack[0]?.state;
    tables.push(await expectSoon(view, `step ${i + 1}: /proc/net/nf_conntrack as Linux recorded it (${state})`, () => raw(page), kernelTable(i)));
  }
  await expectSoon(view, 'the timeline is at its end', () => position(page), `Step ${KERNEL.steps.length} of ${KERNEL.steps.length}`);
  check(view, 'step is disabled at the end', await step.isDisabled());

  await page.locator('[data-testid=back]').click();
  await expectSoon(view, 'back restores the table before the last packet exactly', () => raw(page), tables[tables.length - 2]);
  await page.locator('[data-testid=reset]').click();
  await expectSoon(view, 'reset empties the table', () => entries(page), []);
  await expectSoon(view, 'reset clears the verdict', () => verdict(page), { text: '', ctstate: '' });
  await expectSoon(view, 'reset goes back to step 0', () => position(page), `Step 0 of ${KERNEL.steps.length}`);
}

/// Keyboard only: the step button is reachable with Tab, the arrows step and go back.
async function keyboard(view, page) {
  await page.selectOption('[data-testid=preset]', 'tcp-handshake');
  await page.locator('body').click({ position: { x: 2, y: 2 } });
  let onStep = false;
  for (let i = 0; i < 20 && !onStep; i += 1) {
    await page.keyboard.press('Tab');
    onStep = await page.evaluate(() => document.activeElement?.dataset?.testid === 'step');
  }
  check(view, 'Tab reaches the step button', onStep);
  await page.keyboard.press('Enter');
  await expectSoon(view, 'Enter on the step button steps', () => entries(page).then((e) => e.map((x) => x.state)), ['SYN_SENT']);
  await page.keyboard.press('ArrowRight');
  await expectSoon(view, '→ steps', () => entries(page).then((e) => e.map((x) => x.state)), ['SYN_RECV']);
  await page.keyboard.press('ArrowLeft');
  await expectSoon(view, '← goes back', () => entries(page).then((e) => e.map((x) => x.state)), ['SYN_SENT']);
}

/// Play at a steady speed, then pause; the /proc view; a field of the packet and its bytes.
async function playAndInspect(view, page) {
  await page.selectOption('[data-testid=preset]', 'tcp-handshake');
  await page.selectOption('[data-testid=speed]', '10');
  const play = page.locator('[data-testid=play]');
  await play.click();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=position]').textContent.split(' ')[1]) >= 3, null, { timeout: 5_000 });
  await play.click();
  const paused = await position(page);
  await page.waitForTimeout(400);
  check(view, 'pause stops the timeline', (await position(page)) === paused && paused !== 'Step 11 of 11', paused);
  check(view, 'the play button says it is not pressed', (await play.getAttribute('aria-pressed')) === 'false');
  await page.selectOption('[data-testid=speed]', '2');

  const table = page.locator('.ct-scroll');
  const proc = page.locator('[data-testid=ct-raw]');
  check(view, 'the table shows, the /proc text waits hidden', (await table.isVisible()) && !(await proc.isVisible()));
  await page.locator('[data-testid=ct-raw-toggle]').check();
  check(view, 'the toggle shows the /proc text instead', (await proc.isVisible()) && !(await table.isVisible()));
  await page.locator('[data-testid=ct-raw-toggle]').uncheck();

  const field = page.locator('#why button.field', { hasText: 'Source port' }).first();
  await field.click();
  const highlighted = await page.locator('#why .hex-byte.hl').count();
  check(view, 'choosing the source port highlights its two bytes', highlighted === 2, `${highlighted} bytes`);
}

async function clock(view, page) {
  await page.selectOption('[data-testid=preset]', 'tcp-handshake');
  await page.locator('[data-testid=step]').click();
  await expectSoon(view, 'SYN_SENT reads 119', () => entries(page).then((e) => e.map((x) => x.timeout)), [119]);
  await page.locator('[data-testid=clock-advance]').click();
  await expectSoon(view, '+10 s: the timeout reads 109', () => entries(page).then((e) => e.map((x) => x.timeout)), [109]);
  await page.locator('[data-testid=clock-next-expiry]').click();
  await expectSoon(view, 'to the next expiry: the entry is gone', () => entries(page), []);
}

async function craft(view, page) {
  await page.selectOption('[data-testid=preset]', 'blank');
  await page.selectOption('[data-testid=craft-from]', 'wan');
  await page.selectOption('[data-testid=craft-proto]', 'tcp');
  await page.fill('[data-testid=craft-src]', '203.0.113.9');
  await page.fill('[data-testid=craft-dst]', '192.168.1.10');
  await page.fill('[data-testid=craft-sport]', '5555');
  await page.fill('[data-testid=craft-dport]', '22');
  await page.fill('[data-testid=craft-flags]', 'S');
  await page.fill('[data-testid=craft-seq]', '1000');
  await page.fill('[data-testid=craft-ack]', '0');
  await page.locator('[data-testid=craft-send]').click();
  await expectSoon(view, 'an inbound SYN is dropped as NEW', () => verdict(page), { text: 'DROP', ctstate: 'NEW' });
  await expectSoon(view, 'it leaves no entry', () => entries(page), []);
  await expectSoon(view, 'it joined the timeline', () => position(page), 'Step 1 of 1');
  await page.locator('#why').scrollIntoViewIfNeeded();
  await shot(page, `craft-inbound-syn-dropped-${view}`);

  // The client's own SYN goes out and is tracked; the server's reply comes back in.
  await page.selectOption('[data-testid=craft-from]', 'lan');
  await page.fill('[data-testid=craft-src]', '192.168.1.10');
  await page.fill('[data-testid=craft-dst]', '203.0.113.9');
  await page.fill('[data-testid=craft-sport]', '40000');
  await page.fill('[data-testid=craft-dport]', '22');
  await page.locator('[data-testid=craft-send]').click();
  await expectSoon(view, 'an outbound SYN is accepted as NEW', () => verdict(page), { text: 'ACCEPT', ctstate: 'NEW' });
  await page.getByRole('button', { name: 'Its reply' }).click();
  await page.fill('[data-testid=craft-flags]', 'SA');
  await page.locator('[data-testid=craft-send]').click();
  await expectSoon(view, 'the SYN-ACK, with seq and ack filled in, is ESTABLISHED', () => verdict(page), { text: 'ACCEPT', ctstate: 'ESTABLISHED' });
  await expectSoon(view, 'the entry is SYN_RECV', () => entries(page).then((e) => e.map((x) => x.state)), ['SYN_RECV']);
}

async function rules(view, page) {
  await page.selectOption('[data-testid=preset]', 'tcp-handshake');
  await page.fill('[data-testid=rules]', '-P FORWARD DROP\n-A FORWARD -p tcp --dport 80 -j BOGUS\n');
  await page.locator('[data-testid=rules-apply]').click();
  const error = page.locator('[data-testid=rules-error]');
  await error.waitFor({ state: 'visible', timeout: 5_000 });
  const text = await error.innerText();
  check(view, 'a bad rule is refused, naming its line', text.includes('line 2'), text);
  await page.locator('#rules').scrollIntoViewIfNeeded();
  await shot(page, `rules-error-${view}`);
  await page.fill('[data-testid=rules]', '-P FORWARD DROP\n-A FORWARD -p tcp --dport 80 -j REJECT --reject-with tcp-reset\n');
  await page.locator('[data-testid=rules-apply]').click();
  await error.waitFor({ state: 'detached', timeout: 5_000 });
  await page.locator('[data-testid=step]').click();
  await expectSoon(view, 'the new rules decide: the SYN to port 80 is rejected', () => verdict(page).then((v) => v.text), 'REJECT');
  const hits = await page.locator('[data-testid=rule-row][data-decisive=true] [data-testid=rule-packets]').innerText();
  check(view, 'the deciding rule counted the packet', hits.trim() === '1', hits);
}

/// Every preset plays to its end without an error.
async function presets(view, page) {
  const ids = await page.locator('[data-testid=preset] option:not([disabled])').evaluateAll((o) => o.map((x) => x.value));
  check(view, 'ten presets or more', ids.length >= 10, JSON.stringify(ids));
  await page.selectOption('[data-testid=speed]', 'max');
  for (const id of ids) {
    await page.selectOption('[data-testid=preset]', id);
    const total = Number((await position(page)).split(' of ')[1]);
    if (total > 0) {
      await page.locator('[data-testid=play]').click();
      await expectSoon(view, `preset ${id} plays to its end`, () => position(page), `Step ${total} of ${total}`, 10_000);
    }
    if (id === 'syn-flood') {
      const stats = await page.locator('.gauge .stats').innerText();
      const [early, full] = (stats.match(/\d+/g) ?? []).map(Number);
      check(view, 'the SYN flood shows early drops and table-full drops', early > 0 && full > 0, stats);
      const gauge = await page.locator('[data-testid=ct-gauge]').evaluate((m) => [m.value, m.max]);
      check(view, 'the gauge shows a table of 16', gauge[1] === 16 && gauge[0] <= 16, JSON.stringify(gauge));
      await shot(page, `syn-flood-${view}`);
    }
    if (id === 'timeouts') {
      await expectSoon(view, 'every entry of the timeouts preset expires', () => entries(page), []);
    }
    if (id === 'ftp') {
      const states = (await entries(page)).map((e) => e.state);
      check(view, 'the FTP data connection is tracked next to the control connection', states.length === 2, JSON.stringify(states));
      const lastVerdict = await verdict(page);
      check(view, 'the SYN to an unannounced port is dropped as NEW', same(lastVerdict, { text: 'DROP', ctstate: 'NEW' }), JSON.stringify(lastVerdict));
    }
  }
  await page.selectOption('[data-testid=speed]', '2');
}

async function share(view, context, page, problems) {
  await page.selectOption('[data-testid=preset]', 'icmp-error');
  for (let i = 0; i < 3; i += 1) await page.locator('[data-testid=step]').click();
  await page.locator('[data-testid=clock-advance]').click();
  const before = await raw(page);
  await page.locator('[data-testid=share-link]').click();
  const link = await page.locator('[data-testid=share-url]').inputValue();
  check(view, 'the link holds the scenario in its hash', link.includes('#s='), link.slice(0, 80));
  const { page: other } = await openPage(context, problems, link);
  await expectSoon(view, 'the link reopens the same table', () => raw(other), before);
  await expectSoon(view, 'the link reopens the same position', () => position(other), await position(page));
  await other.close();
}

async function files(view, page) {
  await page.selectOption('[data-testid=preset]', 'icmp-echo');
  const total = Number((await position(page)).split(' of ')[1]);
  const [pcapDownload] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=pcap-export]').click()]);
  const pcap = readFileSync(await pcapDownload.path());
  check(view, 'the exported pcap is a raw-IPv4 pcap', pcap.readUInt32LE(0) === 0xa1b2c3d4 && pcap.readUInt32LE(20) === 228, pcap.subarray(0, 24).toString('hex'));
  await page.selectOption('[data-testid=preset]', 'blank');
  await page.locator('[data-testid=pcap-import]').setInputFiles({ name: 'ping.pcap', mimeType: 'application/vnd.tcpdump.pcap', buffer: pcap });
  await expectSoon(view, 'importing it brings the packets back', () => position(page), `Step 0 of ${total}`);
  const notice = await page.locator('.notice').innerText();
  check(view, 'the import is reported', notice.includes(`Imported ${total} packets from ping.pcap`), notice);

  const [traceDownload] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=trace-export]').click()]);
  const trace = JSON.parse(readFileSync(await traceDownload.path(), 'utf8'));
  check(view, 'the exported trace has the kernel-oracle shape', trace.format === 'kernel-oracle-trace/1' && trace.steps.length === total && Array.isArray(trace.steps[0].result.conntrack), JSON.stringify(Object.keys(trace)));
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
console.log(`e2e: ${browser.version()} opening ${url}`);

try {
  const gz = gzipSync(readFileSync(WASM), { level: 9 }).length;
  const rawSize = readFileSync(WASM).length;
  console.log(`e2e: pkg/wasmwall_web_bg.wasm is ${(rawSize / 1024).toFixed(0)} KB, ${(gz / 1024).toFixed(0)} KB gzipped`);
  check('build', 'the release .wasm is at most 400 KB gzipped', gz <= WASM_BUDGET_GZIP, `${gz} bytes`);

  for (const view of [
    { name: 'laptop', viewport: { width: 1280, height: 800 } },
    { name: 'phone', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
  ]) {
    const context = await browser.newContext({ viewport: view.viewport, isMobile: view.isMobile ?? false, hasTouch: view.hasTouch ?? false, acceptDownloads: true });
    const problems = [];
    const wasmTypes = [];
    context.on('response', (res) => {
      if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.url()}`);
      if (res.url().endsWith('.wasm')) wasmTypes.push(res.headers()['content-type']);
    });
    const { page, response } = await openPage(context, problems);
    await firstLook(view.name, page, response, wasmTypes);
    await handshake(view.name, page);
    if (view.name === 'laptop') {
      await keyboard(view.name, page);
      await playAndInspect(view.name, page);
      await clock(view.name, page);
      await craft(view.name, page);
      await rules(view.name, page);
      await presets(view.name, page);
      await share(view.name, context, page, problems);
      await files(view.name, page);
    } else {
      await page.selectOption('[data-testid=preset]', 'tcp-handshake');
      for (let i = 0; i < 3; i += 1) await page.locator('[data-testid=step]').click();
      await expectSoon(view.name, 'ESTABLISHED on the phone too', () => entries(page).then((e) => e.map((x) => x.state)), ['ESTABLISHED']);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(view.name, 'no horizontal scrolling with a table and a diagram', overflow <= 0, `page is ${overflow}px wider than the window`);
    }
    check(view.name, 'no errors in the page', problems.length === 0, problems.join('; '));
    await context.close();
  }
} catch (err) {
  failures.push(`unexpected error: ${err?.stack ?? err}`);
  console.log(`e2e: FAIL  ${err?.stack ?? err}`);
} finally {
  await browser.close();
  clearTimeout(watchdog);
}

console.log(`e2e: ${passed} checks passed, ${failures.length} failed`);
if (failures.length > 0) {
  for (const f of failures) console.error(`e2e: failed: ${f}`);
  process.exit(1);
}

// End-to-end check of the wasmwall page in headless Chromium, run by `cargo xtask test`:
//
//   node tools/e2e.mjs http://127.0.0.1:PORT/ target/screenshots
//
// Opens the page at a laptop and a phone size, waits for the Yew app to render, checks what a
// person would see, clicks a link, and saves a screenshot of each size. Exits non-zero on any
// failed check.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, outDir] = process.argv.slice(2);
if (!url || !outDir) {
  console.error('usage: node tools/e2e.mjs URL SCREENSHOT_DIR');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

// Never hang CI: give up after two minutes.
const watchdog = setTimeout(() => {
  console.error('e2e: timed out after 120 s');
  process.exit(1);
}, 120_000);

const EXPECTED_SECTIONS = ['Timeline', 'Craft a packet', 'Conntrack table', 'Rules', 'Why'];
const VIEWS = [
  { name: 'laptop', viewport: { width: 1280, height: 800 } },
  { name: 'phone', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
];

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

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});
console.log(`e2e: ${browser.version()} opening ${url}`);

try {
  for (const view of VIEWS) {
    const context = await browser.newContext({
      viewport: view.viewport,
      isMobile: view.isMobile ?? false,
      hasTouch: view.hasTouch ?? false,
    });
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
    });
    page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()}`));
    const wasmTypes = [];
    page.on('response', (res) => {
      if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.url()}`);
      if (res.url().endsWith('.wasm')) wasmTypes.push(res.headers()['content-type']);
    });

    const response = await page.goto(url, { waitUntil: 'load' });
    check(view.name, 'page loads', response?.ok(), `status ${response?.status()}`);

    const h1 = page.locator('header h1');
    await h1.waitFor({ state: 'visible', timeout: 20_000 });
    check(view.name, 'app renders the header "wasmwall"', (await h1.innerText()).trim() === 'wasmwall');

    check(
      view.name,
      'wasm module served as application/wasm',
      wasmTypes.length === 1 && wasmTypes[0] === 'application/wasm',
      JSON.stringify(wasmTypes),
    );

    const loading = await page.locator('.loading').count();
    check(view.name, 'loading message replaced by the app', loading === 0);

    const titles = (await page.locator('main section.panel h2').allInnerTexts()).map((t) => t.trim());
    check(
      view.name,
      'sections timeline, craft packet, conntrack table, rules, why in order',
      JSON.stringify(titles) === JSON.stringify(EXPECTED_SECTIONS),
      JSON.stringify(titles),
    );

    const intro = await page.locator('section.intro').innerText();
    check(view.name, 'explanation mentions [UNREPLIED] and [ASSURED]', /\[UNREPLIED\][\s\S]*\[ASSURED\]/.test(intro));

    const columns = (await page.locator('#conntrack th').allInnerTexts()).map((t) => t.trim().toLowerCase());
    check(view.name, 'conntrack table skeleton has its columns', columns.includes('original') && columns.includes('reply'), JSON.stringify(columns));

    const footer = await page.locator('footer').innerText();
    check(view.name, 'footer shows the engine version', /wasmwall engine v\d+\.\d+\.\d+/.test(footer), footer);

    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(view.name, 'no horizontal scrolling', overflow <= 0, `page is ${overflow}px wider than the window`);

    // A person's click: the navigation link to the conntrack table.
    await page.getByRole('link', { name: 'Conntrack table' }).click();
    await page.waitForFunction(() => location.hash === '#conntrack', null, { timeout: 5_000 });
    const inView = await page.locator('#conntrack-title').evaluate((el) => {
      const r = el.getBoundingClientRect();
      return r.top >= 0 && r.top < window.innerHeight;
    });
    check(view.name, 'navigation link scrolls to the conntrack table', inView);
    await page.evaluate(() => window.scrollTo(0, 0));

    const shot = join(outDir, `home-${view.name}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`e2e: screenshot ${shot}`);

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

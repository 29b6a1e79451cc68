// Opens a running daemon's status page (http://127.0.0.1:PORT/) in headless Chromium and
// checks what a person would see: no request but the page itself (no external fetch, no
// favicon), every expected profile row with its state badge, a drawn sparkline (a polyline
// with points and a size), numbers rounded to at most three significant figures, correct
// plurals, a table that fits the window, and the page reloading itself; then saves a
// full-page screenshot.
// Usage: node check-status.mjs URL OUT_DIR PROFILE=STATE...
import { check, finish, launch } from './harness.mjs';
import { statSync } from 'node:fs';
import { join } from 'node:path';

const [url, outDir, ...expected] = process.argv.slice(2);
if (!url || !outDir || expected.length === 0) {
  console.error('usage: node check-status.mjs URL OUT_DIR PROFILE=STATE...');
  process.exit(2);
}
const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await context.newPage();
  const others = [];
  // Only the page itself may load; anything else is aborted and fails the check.
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u === url) return route.continue();
    others.push(u);
    return route.abort();
  });
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));

  await page.goto(url, { waitUntil: 'load' });
  const rows = await page.$$eval('tbody tr[data-profile]', (trs) =>
    trs.map((tr) => {
      const cells = [...tr.querySelectorAll('td')];
      const line = tr.querySelector('svg.spark polyline');
      const box = line ? line.closest('svg').getBoundingClientRect() : null;
      return {
        name: tr.dataset.profile,
        state: tr.querySelector('.state')?.textContent,
        nums: cells.filter((c) => c.classList.contains('num')).map((c) => c.textContent),
        points: line ? line.getAttribute('points').trim().split(/\s+/).length : 0,
        spark: box ? [box.width, box.height] : null,
      };
    }));
  for (const want of expected) {
    const [name, state] = want.split('=');
    const row = rows.find((r) => r.name === name);
    check(row !== undefined, `a row for profile ${name}`);
    if (!row) continue;
    check(row.state === state, `${name} is ${state} (shows ${row.state})`);
    if (state === 'active') {
      check(row.points >= 2 && row.spark && row.spark[0] > 0 && row.spark[1] > 0,
        `${name}'s sparkline is drawn (${row.points} points, ${row.spark})`);
    }
  }
  // Every number on the page: at most three significant figures.
  const numbers = rows.flatMap((r) => r.nums);
  const tooPrecise = numbers.filter((t) => {
    const m = t.match(/\d[\d.]*/);
    if (!m) return false;
    const digits = m[0].replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
    return digits.length > 3;
  });
  check(numbers.length > 0 && tooPrecise.length === 0,
    `${numbers.length} numbers, none with more than three significant figures (${tooPrecise.join(', ') || 'none'})`);
  const text = await page.evaluate(() => document.body.innerText);
  const badPlural = text.match(/\b1 (profiles|endpoints|users|connections|days|years)\b|\b([02-9]|\d\d+) (profile|endpoint|user|connection|day|year)\b(?!s)/g);
  check(badPlural === null, `plurals agree with their numbers (${badPlural ? badPlural.join(', ') : 'all do'})`);
  const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  check(fits, 'the table fits a 1100 px window without scrolling sideways');
  const refresh = await page.$eval('meta[http-equiv="refresh"]', (m) => Number(m.content)).catch(() => 0);
  check(refresh > 0 && refresh <= 30, `the page asks to refresh every ${refresh} s`);
  // The page reloads itself: a new document arrives without us navigating.
  const reloaded = await page.waitForEvent('load', { timeout: (refresh + 5) * 1000 }).then(() => true, () => false);
  check(reloaded, 'the page reloaded itself');
  check(others.length === 0, `no request but the page itself (${others.join(', ') || 'none'})`);
  check(errors.length === 0, `no script or console errors (${errors.join('; ') || 'none'})`);

  const png = join(outDir, 'status.png');
  await page.screenshot({ path: png, fullPage: true });
  const size = statSync(png).size;
  check(size > 20_000, `full-page screenshot ${png} (${size} bytes)`);
} finally {
  await browser.close();
}
finish('all status page checks passed');

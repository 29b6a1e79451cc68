// Opens a loadtide HTML report (file://) in headless Chromium and checks what a person would
// see: no network request but the file itself, every chart present and drawn (non-zero boxes,
// plotted lines with points, bars), the thresholds table with PASSED and FAILED, the failing
// window listed and shaded on every time chart; then saves a full-page screenshot and a PDF
// and checks their sizes.
// Usage: node check-report.mjs REPORT.html OUT_DIR
// Environment: CHROMIUM (default /usr/bin/chromium).
import { check, finish, launch } from './harness.mjs';
import { statSync, readFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [report, outDir] = process.argv.slice(2);
if (!report || !outDir) {
  console.error('usage: node check-report.mjs REPORT.html OUT_DIR');
  process.exit(2);
}
const url = pathToFileURL(resolve(report)).href;
const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const requests = [];
  // Every request the page makes is seen here; anything but the report itself is aborted
  // (so nothing leaves the machine) and fails the check.
  await context.route('**/*', (route) => {
    const u = route.request().url();
    requests.push(u);
    return u === url ? route.continue() : route.abort();
  });
  page.on('request', (r) => {
    if (!requests.includes(r.url())) requests.push(r.url());
  });
  await page.goto(url, { waitUntil: 'load' });
  const resources = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
  const others = [...new Set([...requests, ...resources])].filter((u) => u !== url);
  check(others.length === 0, `no network request but the file itself (${others.join(', ') || 'none'})`);

  const charts = {
    rate: ['intended', 'achieved'],
    latency: ['p50', 'p90', 'p99', 'max'],
    errors: null, // one line per error kind seen
    'in-flight': ['in flight'],
  };
  for (const [key, legends] of Object.entries(charts)) {
    const info = await page.evaluate((key) => {
      const svg = document.querySelector(`svg.chart[data-chart="${key}"]`);
      if (!svg) return null;
      const box = svg.getBoundingClientRect();
      const lines = [...svg.querySelectorAll('polyline')].map((p) => {
        const b = p.getBBox();
        return { name: p.querySelector('title')?.textContent, points: p.points.numberOfItems, w: b.width, h: b.height };
      });
      const bands = [...svg.querySelectorAll('rect.band')].map((r) => r.getBoundingClientRect().width);
      return { w: box.width, h: box.height, lines, bands };
    }, key);
    check(info !== null, `chart ${key} is present`);
    if (!info) continue;
    check(info.w > 0 && info.h > 0, `chart ${key} has a size (${info.w}x${info.h})`);
    check(info.lines.length > 0 && info.lines.every((l) => l.points >= 2 && l.w > 0),
      `chart ${key} plots ${info.lines.length} line(s) with points: ${info.lines.map((l) => `${l.name}:${l.points}`).join(' ')}`);
    if (legends) {
      const names = info.lines.map((l) => l.name);
      check(legends.every((n) => names.includes(n)), `chart ${key} has ${legends.join(', ')} (has ${names.join(', ')})`);
    }
    check(info.bands.length > 0 && info.bands.every((w) => w > 0), `chart ${key} shades the failing window(s) (${info.bands.length})`);
  }
  const bars = await page.evaluate(() => {
    const svg = document.querySelector('svg.chart[data-chart="distribution"]');
    return svg ? [...svg.querySelectorAll('rect.bar')].map((r) => r.getBoundingClientRect().height) : null;
  });
  check(bars !== null && bars.some((h) => h > 0), `latency distribution draws bars (${bars ? bars.length : 0})`);

  const verdicts = await page.$$eval('#thresholds td.pass, #thresholds td.fail', (cells) => cells.map((c) => c.textContent));
  check(verdicts.includes('PASSED') && verdicts.includes('FAILED'), `thresholds table shows PASSED and FAILED (${verdicts.join(', ')})`);
  const failing = await page.$$eval('#failing-windows tr.fail', (rows) =>
    rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent).join(' | ')));
  check(failing.length > 0, `failing windows are listed: ${failing.join('; ')}`);
  const visible = await page.isVisible('#failing-windows');
  check(visible, 'the failing windows table is visible');

  const png = join(outDir, 'report.png');
  await page.screenshot({ path: png, fullPage: true });
  const pngSize = statSync(png).size;
  const pngHead = readFileSync(png).subarray(0, 8).toString('latin1');
  check(pngHead.startsWith('\x89PNG') && pngSize > 30_000, `full-page screenshot ${png} (${pngSize} bytes)`);

  await page.emulateMedia({ media: 'print' });
  const pdf = join(outDir, 'report.pdf');
  await page.pdf({ path: pdf, format: 'A4', printBackground: true });
  const pdfBytes = readFileSync(pdf);
  const pages = (pdfBytes.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
  check(pdfBytes.subarray(0, 5).toString('latin1') === '%PDF-' && pdfBytes.length > 10_000 && pages >= 1,
    `printed to PDF ${pdf} (${pdfBytes.length} bytes, ${pages} page(s))`);
} finally {
  await browser.close();
}
finish('all report checks passed');

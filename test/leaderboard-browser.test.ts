/**
 * The leaderboard site in a real headless browser (Debian's chromium driven by playwright-core),
 * served by `sigma-sweep serve` (the CLI, as a child process) on a free port: the page loads with no
 * console error, no dialog and nothing fetched from elsewhere; the curves load; clicking a column
 * header sorts the rows; the regression is marked in text; the hostile model name is visible text;
 * without JavaScript the tables read the same. A full-page screenshot is written to
 * test-output/leaderboard/leaderboard.png. Skipped, saying why, where /usr/bin/chromium is missing
 * (CI installs Debian's chromium and fonts-dejavu-core).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../orchestrator/db/store.ts';
import { parseMetric } from '../orchestrator/leaderboard/board.ts';
import { buildSite } from '../orchestrator/leaderboard/site.ts';
import { addLeaderboardNights, HOSTILE_MODEL, LEADERBOARD } from './helpers/report-rows.ts';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`leaderboard-browser: skipped: ${CHROMIUM} is missing (Debian: apt-get install chromium)`);

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCREENSHOT = path.join(ROOT, 'test-output', 'leaderboard', 'leaderboard.png');

let server: ChildProcess | null = null;
let url = '';
let browser: Browser | null = null;

/** Start `sigma-sweep serve DIR --port 0` and read the URL it prints. */
function startServe(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'sigma-sweep.js'), 'serve', dir, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (c) => (err += c));
    child.stdout!.on('data', (c) => {
      out += c;
      const line = /^(http:\/\/\S+)\n/.exec(out);
      if (line) resolve({ child, url: line[1] });
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code} before printing its URL: ${err}`)));
  });
}

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  const store = await Store.open({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'sigma-lb-browser-')) });
  const site = mkdtempSync(path.join(os.tmpdir(), 'sigma-lb-browser-site-'));
  try {
    await addLeaderboardNights(store);
    await buildSite(store, { name: LEADERBOARD, out: site, metric: parseMetric('asr10'), ks: [10, 50] });
  } finally {
    await store.close();
  }
  ({ child: server, url } = await startServe(site));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise<number | null>((resolve) => server!.once('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0); // SIGTERM closes the server and exits 0
  }
});

/** Open the page, recording console errors, page errors, dialogs and every request. */
async function openPage(javaScriptEnabled = true): Promise<{ page: Page; problems: string[]; requests: string[] }> {
  const context = await browser!.newContext({ javaScriptEnabled, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on('request', (r) => requests.push(r.url()));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  await page.goto(url, { waitUntil: 'networkidle' });
  return { page, problems, requests };
}

const rowNames = (page: Page, table: string) => page.locator(`${table} tbody tr th[scope="row"]`).allTextContents();

describe.skipIf(!HAVE_CHROMIUM)('leaderboard site in chromium', () => {
  it('loads cleanly, sorts on header clicks, marks the regression, shows hostile names as text; screenshot', async () => {
    const { page, problems, requests } = await openPage();
    expect(problems).toEqual([]);
    expect(requests.length).toBeGreaterThanOrEqual(3); // the page and its two curve images
    for (const r of requests) expect(r.startsWith(url)).toBe(true); // nothing from elsewhere
    const images = await page.locator('img').evaluateAll((els) => els.map((e) => (e as HTMLImageElement).naturalWidth));
    expect(images).toHaveLength(2);
    for (const w of images) expect(w).toBeGreaterThan(100);

    // the hostile model name is visible text, and no element came out of it
    const heading = page.locator('h2', { hasText: HOSTILE_MODEL });
    await expect.poll(() => heading.isVisible()).toBe(true);
    expect(await heading.textContent()).toBe(`${HOSTILE_MODEL} on mnist`);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(await page.locator('svg').count()).toBe(0); // the curves are <img>; an injected <svg> would show up here

    // m1's ranking by ASR_10: gamma, beta, alpha; alpha's regression in words with its explanation
    const m1 = 'table.ranking:has(caption:text-is("m1 on mnist: attacks ranked by ASR_10, night 2025-06-02"))';
    expect(await rowNames(page, m1)).toEqual(['gamma', 'beta', 'alpha']);
    const marker = page.locator(`${m1} tr.regression .change.regression`);
    expect(await marker.textContent()).toBe('▼ regression (−75.0)');
    expect(await marker.getAttribute('aria-label')).toBe('regression: ASR_10 worsened from 75.0 to 0.0 since night 2025-06-01');
    expect(await marker.isVisible()).toBe(true);

    // sorting: attack ascending, then descending; median ℓ0 ascending (numbers, not text: 10 < 16.5 < 35)
    const header = (name: string) => page.locator(`${m1} thead th`, { hasText: name }).locator('button');
    await header('attack').click();
    expect(await rowNames(page, m1)).toEqual(['alpha', 'beta', 'gamma']);
    expect(await page.locator(`${m1} thead th`, { hasText: 'attack' }).getAttribute('aria-sort')).toBe('ascending');
    await header('attack').click();
    expect(await rowNames(page, m1)).toEqual(['gamma', 'beta', 'alpha']);
    await header('median').click();
    expect(await rowNames(page, m1)).toEqual(['gamma', 'alpha', 'beta']);
    await header('median').click();
    expect(await rowNames(page, m1)).toEqual(['beta', 'alpha', 'gamma']);
    await header('#').click();
    expect(await rowNames(page, m1)).toEqual(['gamma', 'beta', 'alpha']);

    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect([...readFileSync(SCREENSHOT).subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('reads without JavaScript: the same tables in rank order, the markers in text', async () => {
    const { page, problems } = await openPage(false);
    expect(problems).toEqual([]);
    const m1 = 'table.ranking:has(caption:text-is("m1 on mnist: attacks ranked by ASR_10, night 2025-06-02"))';
    expect(await rowNames(page, m1)).toEqual(['gamma', 'beta', 'alpha']);
    expect(await page.locator('th button').count()).toBe(0);
    expect(await page.locator(`${m1} .change.regression`).textContent()).toBe('▼ regression (−75.0)');
    await page.context().close();
  });
});

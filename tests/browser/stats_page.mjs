// SPDX-License-Identifier: Apache-2.0
// Opens sluice's stats page in Debian's Chromium (headless, through
// playwright-core) the way an operator would, and checks what they would
// look at: every server with its state, the live chart moving, the admin
// form draining a server. Takes a screenshot for humans.
//
//   node stats_page.mjs <url> <user:password> <screenshot.png> <expectations.json>
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

const [url, credentials, screenshot, expectFile] = process.argv.slice(2);
const expected = JSON.parse(readFileSync(expectFile, 'utf8'));
const [username, password] = credentials.split(':');

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exitCode = 1;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--disable-dev-shm-usage'],
  timeout: 30000,
});
try {
  const context = await browser.newContext({ httpCredentials: { username, password },
                                             viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  const response = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  if (response.status() !== 200) fail(`page answered ${response.status()}`);

  // Every server is listed with the state the test set up.
  for (const [proxy, server, status] of expected.servers) {
    const row = page.locator(`tr.server[data-proxy="${proxy}"][data-name="${server}"]`);
    if (await row.count() !== 1) { fail(`no row for ${proxy}/${server}`); continue; }
    const shown = (await row.locator('td[data-field="status"]').innerText()).trim();
    if (shown !== status) fail(`${proxy}/${server} shows "${shown}", expected "${status}"`);
  }
  for (const proxy of expected.proxies) {
    if (await page.locator(`section.proxy[data-proxy="${proxy}"]`).count() !== 1) fail(`no table for ${proxy}`);
  }

  // The chart is live: after traffic, the current rate shows up and the
  // canvas has been drawn on.
  await page.waitForFunction(() => document.getElementById('cur-conn').textContent !== '-', null,
                             { timeout: 10000 }).catch(() => fail('chart never updated'));
  const painted = await page.evaluate(() => {
    const c = document.getElementById('chart');
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let colored = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) colored++;
    return colored;
  });
  if (painted < 100) fail(`chart canvas is empty (${painted} pixels)`);

  // Sessions and bytes appear in the tables after traffic.
  const total = await page.locator(`tr.frontend[data-proxy="${expected.trafficProxy}"] td[data-field="total"]`).innerText();
  if (!(Number(total) > 0)) fail(`frontend ${expected.trafficProxy} total is "${total}"`);

  await page.screenshot({ path: screenshot, fullPage: true });

  // Admin: tick a server, choose "drain", apply; the page comes back with
  // the server in DRAIN.
  const [proxy, server] = expected.drain;
  const form = page.locator(`section.proxy[data-proxy="${proxy}"] form`);
  await form.locator(`input[type=checkbox][value="${server}"]`).check();
  await form.locator('select[name=action]').selectOption('drain');
  await Promise.all([page.waitForNavigation({ timeout: 10000 }), form.locator('button[type=submit]').click()]);
  const after = (await page.locator(`tr.server[data-proxy="${proxy}"][data-name="${server}"] td[data-field="status"]`)
    .innerText()).trim();
  if (after !== 'DRAIN') fail(`after the admin action ${proxy}/${server} shows "${after}"`);
  if (!(await page.locator('#notice').innerText()).includes('successfully')) fail('no success notice');

  if (errors.length) fail(`JavaScript errors: ${errors.join(' | ')}`);
} finally {
  await browser.close();
}
if (!process.exitCode) console.log('stats page: all checks passed');

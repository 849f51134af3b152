// SPDX-License-Identifier: Apache-2.0
// Loads pages over HTTP/3 in Debian's Chromium (headless, through
// playwright-core), with QUIC forced on for the given origins and every
// name resolved to loopback, and checks for each page what a user would:
// the text the server serves, that it came over h3, and that the
// certificate Chromium saw is the server's own (sluice terminates nothing).
//
//   node http3_page.mjs <expectations.json>
//   { "spki": "<base64 SHA-256 of each server key, comma-separated>",
//     "pages": [ { "url": "https://app.example:4433/", "text": "server=app",
//                  "subject": "app.example" }, ... ] }
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

const expected = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const origins = [...new Set(expected.pages.map((p) => new URL(p.url).host))];

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exitCode = 1;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
         '--enable-quic', `--origin-to-force-quic-on=${origins.join(',')}`,
         '--host-resolver-rules=MAP * 127.0.0.1',
         `--ignore-certificate-errors-spki-list=${expected.spki}`],
  timeout: 30000,
});
try {
  for (const want of expected.pages) {
    // A fresh context per page: no connection is reused across names.
    const context = await browser.newContext();
    const page = await context.newPage();
    const response = await page.goto(want.url, { waitUntil: 'load', timeout: 15000 });
    if (!response) { fail(`${want.url}: no response`); await context.close(); continue; }
    if (response.status() !== 200) fail(`${want.url} answered ${response.status()}`);
    const text = (await page.locator('body').innerText()).trim();
    if (text !== want.text) fail(`${want.url} shows "${text}", expected "${want.text}"`);
    const protocol = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
    if (protocol !== 'h3') fail(`${want.url} came over "${protocol}", not h3`);
    const security = await response.securityDetails();
    if (!security || security.subjectName !== want.subject) {
      fail(`${want.url}: certificate subject "${security && security.subjectName}", expected "${want.subject}"`);
    }
    console.log(`${want.url}: "${text}" over ${protocol}, certificate ${security && security.subjectName}`);
    await context.close();
  }
} finally {
  await browser.close();
}

// The dashboard in a real browser: Debian's chromium driven by playwright-core. Prints TAP
// "ok"/"not ok" lines; tests/integration/dashboard.sh runs it against a live cluster.
// Env: SB_API (http://127.0.0.1:PORT), SB_SHOTS (screenshot directory), and the shell
// commands that act on the cluster: SB_REGISTER (a SIPp REGISTER of alice),
// SB_UNREGISTER (DELETE of alice through the API), SB_KILL (kill -9 of routerd).
'use strict';
const { chromium } = require('playwright-core');
const { execSync } = require('child_process');
const path = require('path');
const { gotoAndLogin } = require('./login');

const api = process.env.SB_API;
const shots = process.env.SB_SHOTS;
let failed = 0;
const ok = (d) => console.log('ok - browser: ' + d);
const notOk = (d, e) => { failed++; console.log('not ok - browser: ' + d + (e ? ' (' + e + ')' : '')); };
async function check(desc, fn) {
  try { await fn(); ok(desc); } catch (e) { notOk(desc, String(e.message || e).split('\n')[0]); }
}
const run = (name) => execSync(process.env[name], { shell: '/bin/bash', stdio: 'inherit', timeout: 30000 });
const alice = '#registrations tbody tr[data-aor="sip:alice@example.com"]';

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await check('the dashboard loads and its event stream goes live', async () => {
      await gotoAndLogin(page, api + '/#registrations', process.env.SB_TOKEN);
      await page.waitForFunction(() => document.getElementById('live').textContent === 'live',
        null, { timeout: 10000 });
    });
    await check('the registrations view starts empty', async () => {
      await page.waitForFunction(() => document.getElementById('reg-count').textContent === '(0)',
        null, { timeout: 5000 });
    });
    await page.evaluate(() => { window.__sb_marker = 'same page'; });

    run('SB_REGISTER');
    await check('a SIPp registration appears in the registrations view', async () => {
      await page.waitForSelector(alice, { timeout: 8000 });
    });
    await check('its contact and user agent are shown', async () => {
      // the event draws the row at once; the user agent comes with the re-read from Redis
      try {
        await page.waitForFunction((sel) => {
          const row = document.querySelector(sel);
          return row && row.textContent.includes('sip:alice@127.0.0.1:5081') &&
            row.textContent.includes('sipp-register');
        }, alice, { timeout: 5000 });
      } catch (e) {
        throw new Error('row: ' + await page.textContent(alice));
      }
    });
    await check('the row came from routerd\'s registration.added event', async () => {
      await page.waitForSelector('#events li[data-type="registration.added"]',
        { state: 'attached', timeout: 5000 });
    });
    await check('without a reload', async () => {
      const m = await page.evaluate(() => window.__sb_marker);
      if (m !== 'same page') throw new Error('the page was reloaded');
    });
    await page.screenshot({ path: path.join(shots, 'dashboard-registrations.png'), fullPage: true });

    run('SB_UNREGISTER');
    await check('an unregister reaches the page as a registration.removed event', async () => {
      await page.waitForSelector('#events li[data-type="registration.removed"]',
        { state: 'attached', timeout: 5000 });
      await page.waitForSelector(alice, { state: 'detached', timeout: 2000 });
    });

    await page.evaluate(() => { location.hash = '#processes'; });
    await check('the processes view lists every process with no restart', async () => {
      await page.waitForFunction(() =>
        document.querySelectorAll('#processes tbody tr').length === 7 &&
        [...document.querySelectorAll('#processes td.restarts')].every((td) => td.textContent === '0'),
      null, { timeout: 5000 });
    });
    run('SB_KILL');
    await check('a killed routerd shows as respawned, restarts 1, live', async () => {
      await page.waitForSelector('#events li[data-type="process.respawned"]',
        { state: 'attached', timeout: 10000 });
      await page.waitForFunction(() => {
        const tr = document.querySelector('#processes tbody tr[data-service="routerd"]');
        return tr && tr.querySelector('td.restarts').textContent === '1';
      }, null, { timeout: 5000 });
    });
    await page.screenshot({ path: path.join(shots, 'dashboard-processes.png'), fullPage: true });
    await page.evaluate(() => { location.hash = '#overview'; });
    await check('the overview counts the processes and the restart', async () => {
      await page.waitForFunction(() =>
        document.getElementById('ov-restarts').textContent === '1' &&
        /^\d+ \/ 7$/.test(document.getElementById('ov-processes').textContent),
      null, { timeout: 5000 });
    });
    await check('still the same page', async () => {
      const m = await page.evaluate(() => window.__sb_marker);
      if (m !== 'same page') throw new Error('the page was reloaded');
    });
    await page.screenshot({ path: path.join(shots, 'dashboard-overview.png'), fullPage: true });
    await check('no script errors on the page', async () => {
      if (errors.length) throw new Error(errors.join('; '));
    });
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.log('not ok - browser: ' + e.message.split('\n')[0]); process.exit(1); });

// The nodes view in a real browser (Debian's chromium driven by playwright-core): main.cf
// api_peers lists this same apid under another origin (http://localhost:PORT, so the page
// reads it cross-origin, through CORS and the page's Content-Security-Policy, as it reads
// a real peer) and a port where nothing listens. The first is shown up with its figures
// (apid's CSP must allow connect-src to the peers), the second down, and the page goes
// on working. Prints TAP lines;
// tests/integration/dashboard.sh runs it. Env: SB_API, SB_SHOTS, SB_PEER (the alias),
// SB_DEAD (the dead peer's URL).
'use strict';
const { chromium } = require('playwright-core');
const path = require('path');
const { gotoAndLogin } = require('./login');

let failed = 0;
async function check(desc, fn) {
  try { await fn(); console.log('ok - browser, nodes: ' + desc); } catch (e) {
    failed++;
    console.log('not ok - browser, nodes: ' + desc + ' (' + String(e.message || e).split('\n')[0] + ')');
  }
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
  });
  const page = await browser.newPage({ viewport: { width: 1300, height: 700 } });
  page.setDefaultTimeout(5000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const node = (url) => '#nodes tbody tr[data-url="' + url + '"]';
  const text = async (sel) => (await page.$(sel).then((r) => r && r.textContent())) || 'none';
  try {
    await gotoAndLogin(page, process.env.SB_API + '/#nodes', process.env.SB_TOKEN);
    await check('the nodes view lists this node and both peers of api_peers', async () => {
      await page.waitForFunction(() => document.querySelectorAll('#nodes tbody tr').length === 3,
        null, { timeout: 5000 });
    });
    await check('this node is up, named by its node_id', async () => {
      await page.waitForFunction(() => {
        const tr = document.querySelector('#nodes tbody tr[data-up="1"]');
        return tr && tr.querySelector('.node').textContent === 'node1 (this node)';
      }, null, { timeout: 5000 });
    });
    await check('the dead peer is shown down, with the reason', async () => {
      try {
        await page.waitForFunction((sel) => {
          const tr = document.querySelector(sel);
          return tr && tr.dataset.up === '0' && /^down: ./.test(tr.querySelector('.status').textContent);
        }, node(process.env.SB_DEAD), { timeout: 5000 });
      } catch (e) { throw new Error('row: ' + await text(node(process.env.SB_DEAD))); }
    });
    await check('the peer read cross-origin is up, with its node_id and processes', async () => {
      try {
        await page.waitForFunction((sel) => {
          const tr = document.querySelector(sel);
          return tr && tr.dataset.up === '1' && tr.dataset.node === 'node1' &&
            /^\d+ \/ \d+$/.test(tr.querySelector('.ready').textContent);
        }, node(process.env.SB_PEER), { timeout: 5000 });
      } catch (e) { throw new Error('row: ' + await text(node(process.env.SB_PEER))); }
    });
    await page.screenshot({ path: path.join(process.env.SB_SHOTS, 'dashboard-nodes.png'), fullPage: true });
    await check('the rest of the page goes on: live, the overview filled', async () => {
      await page.evaluate(() => { location.hash = '#overview'; });
      await page.waitForFunction(() => document.getElementById('live').textContent === 'live' &&
        /^\d+ \/ \d+$/.test(document.getElementById('ov-processes').textContent), null, { timeout: 5000 });
      if (errors.length) throw new Error(errors.join('; '));
    });
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.log('not ok - browser, nodes: ' + String(e.message).split('\n')[0]); process.exit(1); });

// The dashboard with main.cf api_token set: the page asks for the token once (a prompt),
// then reads the API with it and follows the event stream (?access_token=). Prints TAP
// lines; tests/integration/dashboard.sh runs it after setting the token.
// Env: SB_API, SB_TOKEN, SB_SHOTS, SB_PUBLISH (a shell command publishing an event).
'use strict';
const { chromium } = require('playwright-core');
const { execSync } = require('child_process');
const path = require('path');

let failed = 0;
async function check(desc, fn) {
  try { await fn(); console.log('ok - browser, token: ' + desc); } catch (e) {
    failed++;
    console.log('not ok - browser, token: ' + desc + ' (' + String(e.message || e).split('\n')[0] + ')');
  }
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
  // Counts the event streams the page opens: a second one replaces the first, and an
  // event published in between is lost.
  await page.addInitScript(() => {
    const Base = window.EventSource;
    window.sbStreams = 0;
    window.EventSource = class extends Base {
      constructor(...args) { super(...args); window.sbStreams++; }
    };
  });
  let prompts = 0;
  page.on('dialog', (d) => { prompts++; d.accept(process.env.SB_TOKEN); });
  try {
    await check('the page asks for the token and then goes live', async () => {
      await page.goto(process.env.SB_API + '/#overview');
      await page.waitForFunction(() => document.getElementById('live').textContent === 'live',
        null, { timeout: 10000 });
      if (prompts < 1) throw new Error('no prompt');
    });
    await check('the overview shows the processes read with the token', async () => {
      await page.waitForFunction(() => /^\d+ \/ 7$/.test(document.getElementById('ov-processes').textContent),
        null, { timeout: 5000 });
    });
    await check('the page opened one event stream, with the token', async () => {
      const n = await page.evaluate(() => window.sbStreams);
      if (n !== 1) throw new Error(n + ' streams opened');
    });
    await check('apid has the stream registered', async () => {
      // "live" is the open event of the page's one stream: apid registered it before it
      // answered. The server's count says so too (streams of the pages closed before may
      // still count until a keep-alive finds them gone), so the event below has a reader.
      const t0 = Date.now();
      for (;;) {
        const r = await fetch(process.env.SB_API + '/api/v1/processes',
          { headers: { Authorization: 'Bearer ' + process.env.SB_TOKEN } });
        const p = await r.json();
        const apid = p.processes.find((x) => x.role === 'apid');
        if (apid && apid.counters.http_sse_clients >= 1) break;
        if (Date.now() - t0 > 5000) throw new Error('apid counts ' + (apid && apid.counters.http_sse_clients) + ' streams');
        await new Promise((res) => setTimeout(res, 50));
      }
    });
    // SB_PUBLISH fails unless Redis delivered the event to a subscriber (apid, ready only
    // once its subscription is confirmed).
    execSync(process.env.SB_PUBLISH, { shell: '/bin/bash', stdio: 'inherit', timeout: 10000 });
    await check('events arrive on the stream opened with access_token', async () => {
      await page.waitForSelector('#events li[data-type="registration.added"]',
        { state: 'attached', timeout: 5000 });
    });
    await check('the token was asked for only once', async () => {
      if (prompts !== 1) throw new Error(prompts + ' prompts');
    });
    await page.screenshot({ path: path.join(process.env.SB_SHOTS, 'dashboard-token.png'), fullPage: true });
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.log('not ok - browser, token: ' + e.message.split('\n')[0]); process.exit(1); });

// The dashboard with main.cf api_token set: the page asks for the token once (its login
// form; a wrong token is refused and asked again), then reads the API with it and follows
// the event stream (?access_token=). Prints TAP
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
    // counts the times the login form is shown
    window.sbLogins = 0;
    new MutationObserver((records) => {
      for (const r of records) if (r.target.id === 'login' && !r.target.hidden) window.sbLogins++;
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['hidden'] });
  });
  try {
    await check('a wrong token is refused and the form asks again', async () => {
      await page.goto(process.env.SB_API + '/#overview');
      await page.waitForSelector('#login', { state: 'visible', timeout: 10000 });
      await page.fill('#login-token', 'wrong-' + process.env.SB_TOKEN);
      await page.click('#login-submit');
      await page.waitForFunction(() => !document.getElementById('login').hidden &&
        /refused/.test(document.getElementById('login-error').textContent), null, { timeout: 5000 });
    });
    await check('the page takes the token in its login form and then goes live', async () => {
      await page.fill('#login-token', process.env.SB_TOKEN);
      await page.click('#login-submit');
      await page.waitForFunction(() => document.getElementById('live').textContent === 'live',
        null, { timeout: 10000 });
    });
    await check('the token is kept in sessionStorage, not in a cookie', async () => {
      const kept = await page.evaluate(() => [sessionStorage.getItem('sb_token'), document.cookie]);
      if (kept[0] !== process.env.SB_TOKEN || kept[1] !== '') throw new Error(JSON.stringify(kept));
    });
    await check('the overview shows the processes read with the token', async () => {
      await page.waitForFunction(() => /^\d+ \/ 7$/.test(document.getElementById('ov-processes').textContent),
        null, { timeout: 5000 });
    });
    await check('the page opened one event stream with the token (none before it)', async () => {
      const n = await page.evaluate(() => window.sbStreams);
      if (n !== 2) throw new Error(n + ' streams opened'); // the one with the wrong token got 401
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
    await check('the token was asked for twice only (the wrong one, then the right one)', async () => {
      const n = await page.evaluate(() => window.sbLogins);
      if (n !== 2) throw new Error(n + ' logins');
    });
    await check('a reload keeps the token: no login form', async () => {
      await page.reload();
      await page.waitForFunction(() => document.getElementById('live').textContent === 'live',
        null, { timeout: 10000 });
      if (await page.isVisible('#login')) throw new Error('the form is shown');
    });
    await page.screenshot({ path: path.join(process.env.SB_SHOTS, 'dashboard-token.png'), fullPage: true });
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})().catch((e) => { console.log('not ok - browser, token: ' + e.message.split('\n')[0]); process.exit(1); });

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

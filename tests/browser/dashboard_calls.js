// Calls and media in the dashboard, in a real browser (Debian's chromium driven by
// playwright-core) against a live cluster: SIPp calls appear in the calls view with both
// legs and a running duration and disappear when they end; the Hang up button ends a live
// call (both SIPp ends receive the BYE); the media view lists the call's session with its
// packet counters and the mediad with its load; a mediad is drained and undrained from
// the page. Prints TAP lines; tests/integration/dashboard.sh runs it.
// Env: SB_API (http://127.0.0.1:PORT), SB_SIP (127.0.0.1:PORT), SB_SIPP_DIR (the
// scenarios), SB_SHOTS (screenshots and SIPp logs), SB_SIPP_PORTS (three free ports),
// SB_RTP_PEER (tests/tools/rtp_peer, to send RTP through mediad).
// Every SIPp and rtp_peer it starts is its own child, killed at the end if still running.
'use strict';
const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const { gotoAndLogin } = require('./login');

const api = process.env.SB_API;
const out = process.env.SB_SHOTS;
const [calleePort, callerPort, regPort] = process.env.SB_SIPP_PORTS.split(' ');
let failed = 0;
async function check(desc, fn) {
  try { await fn(); console.log('ok - browser, calls: ' + desc); } catch (e) {
    failed++;
    console.log('not ok - browser, calls: ' + desc + ' (' + String(e.message || e).split('\n')[0] + ')');
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// sipp NAME SCENARIO PORT ARGS: one SIPp run in the background; its messages go to
// $SB_SHOTS/NAME.msg. Returns {done: Promise of the exit status, msg: the file}.
const children = [];
function sipp(name, scenario, port, args) {
  const msg = path.join(out, name + '.msg');
  fs.rmSync(msg, { force: true });
  const log = fs.openSync(path.join(out, name + '.out'), 'w');
  const p = spawn('sipp', ['-sf', path.join(process.env.SB_SIPP_DIR, scenario), '-i', '127.0.0.1',
    '-p', port, '-m', '1', '-timeout', '20s', '-timeout_error', '-nostdin', '-trace_msg',
    '-message_file', msg, '-trace_err', '-error_file', path.join(out, name + '.err'),
    ...args, process.env.SB_SIP], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  children.push(p);
  const done = new Promise((resolve) => p.on('exit', (code, sig) => resolve(code === null ? sig : code)));
  return { done, msg };
}
async function exited(run, ms) { // the exit status, or 'running' after MS
  return Promise.race([run.done, sleep(ms).then(() => 'running')]);
}
// The start lines of the messages SIPp received, in order ("INVITE", "200", "BYE").
function received(run) {
  const lines = fs.existsSync(run.msg) ? fs.readFileSync(run.msg, 'latin1').replace(/\r/g, '').split('\n') : [];
  const got = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].includes('message received')) continue;
    let j = i + 1;
    while (j < lines.length && !lines[j].trim()) j++;
    if (j < lines.length) { const w = lines[j].split(' '); got.push(/^SIP\//.test(w[0]) ? w[1] : w[0]); }
  }
  return got;
}

// IP:PORT of the audio of the last SDP SIPp received (mediad's side for that party).
function mediaOf(run) {
  const lines = fs.readFileSync(run.msg, 'latin1').replace(/\r/g, '').split('\n');
  let rx = false, ip = '', port = '';
  for (const l of lines) {
    if (l.includes('message received')) rx = true;
    else if (l.includes('message sent')) rx = false;
    else if (rx && l.startsWith('c=IN IP4 ')) ip = l.split(' ')[2];
    else if (rx && l.startsWith('m=audio ')) port = l.split(' ')[1];
  }
  return ip && port ? ip + ':' + port : null;
}

const row = (cid) => '#calls tbody tr[data-call-id="' + cid + '"]';
async function waitLegs(page, cid, st, ms) {
  try {
    await page.waitForFunction(([sel, s]) => {
      const tr = document.querySelector(sel);
      return tr && tr.querySelector('td.leg-a').dataset.state === s &&
        tr.querySelector('td.leg-b').dataset.state === s;
    }, [row(cid), st], { timeout: ms });
  } catch (e) {
    const t = await page.$(row(cid)).then((r) => r && r.textContent());
    throw new Error('row: ' + (t === null ? 'none' : t));
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
  try {
    await check('the calls view loads, live and empty', async () => {
      await gotoAndLogin(page, api + '/#calls', process.env.SB_TOKEN);
      await page.waitForFunction(() => document.getElementById('live').textContent === 'live' &&
        document.getElementById('calls-count').textContent === '(0)', null, { timeout: 10000 });
    });
    await page.evaluate(() => { window.__sb_marker = 'same page'; });

    const reg = sipp('dash-reg-1001', 'register.xml', regPort, ['-cid_str', 'dash-reg-%u',
      '-key', 'user', '1001', '-key', 'seq', '1', '-key', 'contacts', '<sip:1001@127.0.0.1:' + calleePort + '>',
      '-key', 'expires_header', 'Expires: 600']);
    await check('the callee 1001 registers', async () => {
      const rc = await exited(reg, 10000);
      if (rc !== 0) throw new Error('sipp register: ' + rc);
    });

    // ---- a call that the caller ends after 4 s ----
    let callee = sipp('dash-callee-1', 'uas_answer.xml', calleePort, []);
    await sleep(300);
    let caller = sipp('dash-caller-1', 'uac_call.xml', callerPort, ['-s', '1001', '-d', '4000',
      '-cid_str', 'dash-call-%u']);
    let seen = false; // "disappears" means something only after "appears"
    await check('a SIPp call appears in the calls view', async () => {
      await page.waitForSelector(row('dash-call-1'), { timeout: 5000 });
      seen = true;
    });
    await check('with both legs Confirmed (A inbound, B outbound)', async () => {
      await waitLegs(page, 'dash-call-1', 'Confirmed', 4000);
    });
    await check('its B leg is a dialog of its own (another Call-ID)', async () => {
      const b = await page.getAttribute(row('dash-call-1') + ' td.leg-b', 'title');
      if (!b || b === 'dash-call-1') throw new Error('B leg Call-ID: ' + b);
    });
    await check('its duration runs without a read of the API', async () => {
      const sel = row('dash-call-1') + ' td.duration';
      const first = await page.textContent(sel);
      await page.waitForFunction(([s, f]) => {
        const td = document.querySelector(s);
        return td && td.textContent !== f;
      }, [sel, first], { timeout: 2500 });
    });
    await check('call.started and call.answered came over the event stream', async () => {
      for (const t of ['call.started', 'call.answered'])
        await page.waitForSelector('#events li[data-type="' + t + '"][data-call-id="dash-call-1"]',
          { state: 'attached', timeout: 3000 });
    });
    await check('the caller hangs up: both SIPp ends complete', async () => {
      const a = await exited(caller, 10000), b = await exited(callee, 5000);
      if (a !== 0 || b !== 0) throw new Error('caller ' + a + ', callee ' + b);
    });
    await check('the call disappears from the calls view', async () => {
      if (!seen) throw new Error('it never appeared');
      await page.waitForSelector(row('dash-call-1'), { state: 'detached', timeout: 5000 });
    });
    await check('on call.ended', async () => {
      await page.waitForSelector('#events li[data-type="call.ended"][data-call-id="dash-call-1"]',
        { state: 'attached', timeout: 3000 });
    });

    // ---- a call that waits for a BYE: the page's Hang up sends it ----
    callee = sipp('dash-callee-2', 'uas_answer.xml', calleePort, []);
    await sleep(300);
    caller = sipp('dash-caller-2', 'uac_call_wait_bye.xml', callerPort, ['-s', '1001',
      '-cid_str', 'dash-hang-%u']);
    seen = false;
    await check('a second call appears, answered', async () => {
      await page.waitForSelector(row('dash-hang-1'), { timeout: 5000 });
      await waitLegs(page, 'dash-hang-1', 'Confirmed', 4000);
      seen = true;
    });
    const bLeg = await page.$eval(row('dash-hang-1') + ' td.leg-b', (td) => td.title).catch(() => null);
    await page.screenshot({ path: path.join(out, 'dashboard-calls.png'), fullPage: true });

    await page.evaluate(() => { location.hash = '#media'; });
    // 50 RTP packets from the caller's side into mediad, while the view is shown
    const aMedia = mediaOf(caller);
    const rtp = aMedia ? spawn(process.env.SB_RTP_PEER, ['-t', aMedia, '-n', '50'],
      { stdio: ['ignore', fs.openSync(path.join(out, 'dash-rtp.out'), 'w'), 'inherit'] }) : null;
    if (rtp) children.push(rtp);
    const rtpDone = rtp ? new Promise((r) => rtp.on('exit', r)) : Promise.resolve();
    await check('the media view lists the call\'s session with packet counters', async () => {
      try {
        await page.waitForFunction((ids) => [...document.querySelectorAll('#sessions tbody tr')].some((tr) =>
          ids.includes(tr.dataset.callId) && tr.querySelector('.ctr')), ['dash-hang-1', bLeg], { timeout: 4000 });
      } catch (e) {
        throw new Error('sessions: ' + await page.textContent('#sessions tbody'));
      }
    });
    await check('its A-side received-packet counter climbs to the 50 RTP packets sent, live', async () => {
      if (!aMedia) throw new Error('no SDP from mediad in ' + caller.msg);
      await Promise.race([rtpDone, sleep(5000)]);
      try {
        await page.waitForFunction(() => [...document.querySelectorAll('#sessions .ctr[data-name="a.rx_packets"]')]
          .some((s) => Number(s.dataset.value) >= 50), null, { timeout: 3000 });
      } catch (e) {
        throw new Error('sessions: ' + await page.textContent('#sessions tbody'));
      }
    });
    await check('and a mediad holding a session', async () => {
      await page.waitForFunction(() => [...document.querySelectorAll('#rtpmanagers tbody tr')].some((tr) =>
        Number(tr.querySelector('td.count').textContent) >= 1), null, { timeout: 4000 });
    });
    await page.screenshot({ path: path.join(out, 'dashboard-media.png'), fullPage: true });

    await page.evaluate(() => { location.hash = '#calls'; });
    await check('the call is still up before the hang-up', async () => {
      if (await exited(caller, 0) !== 'running') throw new Error('the caller already ended');
    });
    await page.click(row('dash-hang-1') + ' button.hangup').catch(() => {});
    await check('Hang up ends the call: the caller receives the BYE and completes', async () => {
      const rc = await exited(caller, 8000);
      const got = received(caller);
      if (rc !== 0 || got[got.length - 1] !== 'BYE') throw new Error('exit ' + rc + ', received ' + got.join(' '));
    });
    await check('and the callee receives the BYE and completes', async () => {
      const rc = await exited(callee, 5000);
      const got = received(callee);
      if (rc !== 0 || got[got.length - 1] !== 'BYE') throw new Error('exit ' + rc + ', received ' + got.join(' '));
    });
    await check('the hung-up call disappears from the calls view, on call.ended', async () => {
      if (!seen) throw new Error('it never appeared');
      await page.waitForSelector(row('dash-hang-1'), { state: 'detached', timeout: 5000 });
      await page.waitForSelector('#events li[data-type="call.ended"][data-call-id="dash-hang-1"]',
        { state: 'attached', timeout: 3000 });
    });

    // ---- drain a mediad from the media view, then undo it ----
    await page.evaluate(() => { location.hash = '#media'; });
    const media = '#rtpmanagers tbody tr:first-child';
    await check('Drain puts the idle mediad out of service', async () => {
      await page.waitForSelector(media + ' button.drain:not([disabled])', { timeout: 4000 });
      await page.click(media + ' button.drain');
      try {
        await page.waitForFunction((sel) => {
          const tr = document.querySelector(sel);
          return tr && tr.dataset.drainState !== 'active' && tr.querySelector('td.progress').textContent !== '';
        }, media, { timeout: 5000 });
      } catch (e) { throw new Error('row: ' + await page.textContent(media)); }
    });
    await page.screenshot({ path: path.join(out, 'dashboard-drain.png'), fullPage: true });
    await check('Cancel drain puts it back', async () => {
      await page.click(media + ' button.cancel-drain', { timeout: 2000 });
      try {
        await page.waitForFunction((sel) => {
          const tr = document.querySelector(sel);
          return tr && tr.dataset.drainState === 'active' && !tr.querySelector('button.drain').disabled;
        }, media, { timeout: 5000 });
      } catch (e) { throw new Error('row: ' + await page.textContent(media)); }
    });

    await check('all without a reload, and no script errors', async () => {
      if (await page.evaluate(() => window.__sb_marker) !== 'same page') throw new Error('reloaded');
      if (errors.length) throw new Error(errors.join('; '));
    });
  } finally {
    await browser.close();
    for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill();
  }
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.log('not ok - browser, calls: ' + String(e.message).split('\n')[0]);
  for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill();
  process.exit(1);
});

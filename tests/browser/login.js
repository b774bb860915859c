// The dashboard's login form, as an operator uses it: open URL, wait for the form the
// first 401 shows, enter TOKEN, and wait until the form is gone (the views are back).
'use strict';

async function gotoAndLogin(page, url, token) {
  await page.goto(url);
  await page.waitForSelector('#login', { state: 'visible', timeout: 10000 });
  await page.fill('#login-token', token);
  await page.click('#login-submit');
  await page.waitForSelector('#login', { state: 'hidden', timeout: 5000 });
}

module.exports = { gotoAndLogin };

// What check-report.mjs and check-status.mjs share: a headless Debian Chromium, a
// check() that prints each verdict and remembers failures, and the exit at the end.
// Environment: CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';

const failures = [];

export const check = (ok, what) => {
  console.log(`   ${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

export const launch = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // Root in a container: Chromium's sandbox needs user namespaces it may not have.
    args: ['--no-sandbox'],
  });

// Exits 1 when any check failed, else prints `done`.
export const finish = (done) => {
  if (failures.length) {
    console.error(`${failures.length} check(s) failed`);
    process.exit(1);
  }
  console.log(`   ${done}`);
};

#!/usr/bin/env node
// Installs the npm dependencies when node_modules is missing or package-lock.json changed
// since the last install. Plain Node with no dependencies: it runs before anything else.
'use strict';
const { spawnSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const lock = path.join(root, 'package-lock.json');
const stamp = path.join(root, 'node_modules', '.mlo-lock.sha256');
const want = createHash('sha256').update(fs.readFileSync(lock)).digest('hex');
let have = '';
try {
  have = fs.readFileSync(stamp, 'utf8').trim();
} catch {
  /* first install */
}
if (have !== want) {
  console.log('installing npm dependencies (npm ci)…');
  let r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    // npm 11 may reject a lock file that records only this platform's optional native
    // packages (npm/cli#4828, #8805). `npm install --no-save` installs the locked versions
    // without rewriting package-lock.json.
    console.log('npm ci refused the lock file; installing the locked versions with npm install --no-save…');
    r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  }
  if (r.status !== 0) {
    console.error('installing the npm dependencies failed; see the output above.');
    process.exit(r.status || 1);
  }
  fs.writeFileSync(stamp, `${want}\n`);
}

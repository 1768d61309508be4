#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader; no build step is needed.
'use strict';
require('tsx/cjs');
const { runCli } = require('../cli/index.ts');
runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

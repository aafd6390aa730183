#!/usr/bin/env node
// The CLI is written in TypeScript and compiled to dist/ by `npm run build`.
import('../dist/client/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('cloister: not built yet; run `npm run build` in the cloister checkout first\n');
    process.exit(1);
  }
  throw err;
});

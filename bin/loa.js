#!/usr/bin/env node
// The single entry point. The TypeScript sources are compiled to dist/ by `npm install` (prepare).
process.setSourceMapsEnabled(true);
const { main } = await import('../dist/cli/loa.js');
process.exitCode = await main(process.argv.slice(2));

#!/usr/bin/env node
// Regenerates the parts of docs/ that are derived from code: the topic and
// payload reference in docs/protocol.md and the error catalogue in
// docs/errors.md. Run after `npm run build`: `npm run docs`.
// test/unit/docs.test.ts fails when these drift from the code.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const { contractMarkdown } = await import(join(root, 'dist/protocol/describe.js'));
const { errorsMarkdown } = await import(join(root, 'dist/protocol/describe-errors.js'));

export function replaceBetween(text, name, body) {
  const start = `<!-- generated:${name} -->`;
  const end = `<!-- /generated:${name} -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`markers for ${name} not found`);
  return text.slice(0, i + start.length) + '\n' + body + text.slice(j);
}

for (const [file, name, body] of [
  ['docs/protocol.md', 'contract', contractMarkdown()],
  ['docs/errors.md', 'errors', errorsMarkdown()],
]) {
  const p = join(root, file);
  const before = readFileSync(p, 'utf8');
  const after = replaceBetween(before, name, body);
  if (after !== before) {
    writeFileSync(p, after);
    console.log(`updated ${file}`);
  } else console.log(`${file} up to date`);
}

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { contractMarkdown } from '../../protocol/describe.js';
import { errorsMarkdown } from '../../protocol/describe-errors.js';
import { CONTRACT } from '../../protocol/contract.js';
import { ERROR_CODES } from '../../protocol/errors.js';

const root = join(import.meta.dirname, '..', '..', '..');
const between = (file: string, name: string) => {
  const text = readFileSync(join(root, file), 'utf8');
  const start = `<!-- generated:${name} -->\n`;
  return text.slice(text.indexOf(start) + start.length, text.indexOf(`<!-- /generated:${name} -->`));
};

test('docs/protocol.md documents the contract as the code defines it (run `npm run docs`)', () => {
  const doc = between('docs/protocol.md', 'contract');
  assert.is(doc, contractMarkdown());
  for (const c of CONTRACT) assert.ok(doc.includes(`### \`${c.pattern}\``), c.pattern);
});

test('docs/errors.md lists every error code (run `npm run docs`)', () => {
  const doc = between('docs/errors.md', 'errors');
  assert.is(doc, errorsMarkdown());
  for (const code of Object.keys(ERROR_CODES)) assert.ok(doc.includes(code), code);
});

test.run();

// aedes-persistence's abstract test suite (node:test) against Loa's SQLite
// persistence; run by broker-persistence.test.ts as `node --test`.
import { test } from 'node:test';
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqlitePersistence } from '../../broker/sqlite-persistence.js';

const require = createRequire(import.meta.url);
const abstractSuite = require('aedes-persistence/abstract.js') as (opts: object) => void;
const dir = mkdtempSync(join(tmpdir(), 'loa-persistence-'));
let n = 0;

abstractSuite({ test, persistence: () => new SqlitePersistence(join(dir, `p${n++}.sqlite`)), testAsync: true });

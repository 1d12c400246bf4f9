import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, createServer, type Server } from 'node:net';
import { runLoa, spawnBroker, type SpawnedBroker } from '../helpers/processes.js';
import { makeProvince, type TestProvince } from '../helpers/province.js';
import { cleanupTempDirs } from '../helpers/tmp.js';

// `loa console` as its own process, as a province runs it, next to a real
// `loa broker`: how it starts, fails and recovers.

let p: TestProvince;
let broker: SpawnedBroker;
let env: NodeJS.ProcessEnv;

test.before(async () => {
  p = await makeProvince({ accounts: [['console', 'console'], ['dispatch', 'dispatch'], ['editor', 'editor']] });
  p.registry.close();
  broker = await spawnBroker(['--data', p.dir]);
  env = { LOA_CONSOLE_PASSWORD: p.accounts.console!.secret, LOA_DISPATCH_PASSWORD: p.accounts.dispatch!.secret };
});
test.after(async () => {
  await broker.stop();
  cleanupTempDirs();
});

test('on a busy HTTP port it says which address and port and what to change, exits non-zero, and leaves nothing running', async () => {
  const holder: Server = createServer((s) => s.end('held\n'));
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const port = (holder.address() as { port: number }).port;
  try {
    // runLoa waits for the process to end by itself: a broker connection or a registry poll left running would keep it alive.
    const r = await runLoa(['console', '--data', p.dir, '--broker', broker.url, '--port', String(port)], env, 25_000);
    assert.is(r.code, 1, `exit ${r.code}:\n${r.stderr}`);
    assert.is(r.stderr, `loa console: LOA_E_LISTEN: cannot listen on 127.0.0.1:${port}: the port is in use by another program (another console?); choose another with --port PORT\n`);
    assert.not.match(r.stdout, /"level":50|database connection is not open/, 'no error logged on the way out');
    // The program holding the port is untouched.
    const answer = await new Promise<string>((resolve, reject) => {
      let got = '';
      connect(port, '127.0.0.1')
        .on('data', (d: Buffer) => (got += d))
        .on('end', () => resolve(got))
        .on('error', reject);
    });
    assert.is(answer, 'held\n');
  } finally {
    holder.close();
  }
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consoleFixture, type ConsoleFixture } from '../helpers/console.js';
import { startBroker } from '../helpers/broker.js';
import { makeProvince } from '../helpers/province.js';
import { runLoa } from '../helpers/processes.js';
import { spawnConsole } from '../helpers/console-process.js';
import { cleanupTempDirs } from '../helpers/tmp.js';

// Whose address the console sees: the TCP peer, unless that peer is a reverse
// proxy the operator named with --trust-proxy. A caller must not pick its own
// address with X-Forwarded-For to escape the per-address login back-off or to
// write a forged address into the audit log.

test.after(() => cleanupTempDirs());

const failedFrom = (f: ConsoleFixture) =>
  f.p.registry
    .auditLog(500)
    .filter((a) => a.action === 'login.failed')
    .map((a) => a.subject);

test('without --trust-proxy a rotating X-Forwarded-For neither escapes the back-off nor reaches the audit log', async () => {
  const f = await consoleFixture();
  try {
    // Password spraying: a new account name and a new forwarded address each time, from one peer.
    for (let i = 0; i < 5; i++) {
      const r = await f.server.app.inject({ method: 'POST', url: '/api/login', payload: { name: `guess-${i}`, password: 'nope' }, remoteAddress: '10.1.1.1', headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } });
      assert.is(r.statusCode, 401);
    }
    const sixth = await f.server.app.inject({ method: 'POST', url: '/api/login', payload: { name: 'editor', password: f.p.accounts.editor!.secret }, remoteAddress: '10.1.1.1', headers: { 'x-forwarded-for': '198.51.100.77' } });
    assert.is(sixth.statusCode, 429, 'the peer is held back whatever address it claims');
    assert.equal(failedFrom(f), ['10.1.1.1', '10.1.1.1', '10.1.1.1', '10.1.1.1', '10.1.1.1'], 'the audit log has the real peer');
    // Another peer is not held back by the first one's failures.
    const other = await f.server.app.inject({ method: 'POST', url: '/api/login', payload: { name: 'editor', password: f.p.accounts.editor!.secret }, remoteAddress: '10.2.2.2' });
    assert.is(other.statusCode, 200);
  } finally {
    await f.stop();
  }
});

test('with --trust-proxy 127.0.0.1 the proxy\'s forwarded address is used, and only the proxy\'s', async () => {
  const f = await consoleFixture({ trustProxy: ['127.0.0.1'] });
  try {
    const viaProxy = (client: string, name = 'nobody') =>
      f.server.app.inject({ method: 'POST', url: '/api/login', payload: { name, password: 'nope' }, remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': client } });
    for (let i = 0; i < 5; i++) assert.is((await viaProxy('203.0.113.7', `guess-${i}`)).statusCode, 401);
    assert.is((await viaProxy('203.0.113.7', 'guess-5')).statusCode, 429, 'the client behind the proxy is held back');
    assert.is((await viaProxy('203.0.113.8', 'guess-6')).statusCode, 401, 'another client behind the same proxy is not');
    // A client that prepends its own X-Forwarded-For: the proxy appends the real peer, which is the one believed.
    assert.is((await viaProxy('1.2.3.4, 203.0.113.9', 'guess-7')).statusCode, 401);
    // A peer that is not the proxy is itself, whatever it forwards.
    await f.server.app.inject({ method: 'POST', url: '/api/login', payload: { name: 'guess-8', password: 'nope' }, remoteAddress: '10.1.1.1', headers: { 'x-forwarded-for': '203.0.113.10' } });
    assert.equal(failedFrom(f).reverse(), ['203.0.113.7', '203.0.113.7', '203.0.113.7', '203.0.113.7', '203.0.113.7', '203.0.113.8', '203.0.113.9', '10.1.1.1']);
  } finally {
    await f.stop();
  }
});

test('loa console: --trust-proxy reaches the HTTP server; a bad entry is named and the console does not start', async () => {
  const p = await makeProvince({ accounts: [['console', 'console'], ['editor', 'editor']] });
  const broker = await startBroker(p.registry, p.dir);
  const env = { LOA_CONSOLE_PASSWORD: p.accounts.console!.secret };
  try {
    const bad = await runLoa(['console', '--data', p.dir, '--broker', broker.url, '--port', '0', '--trust-proxy', '127.0.0.1,10.0.0.0/33', '--trust-proxy', 'proxy.lan'], env);
    assert.is(bad.code, 1);
    assert.is(bad.stderr, 'loa console: LOA_E_CONFIG_INVALID: --trust-proxy: not an IP address or CIDR block: "10.0.0.0/33", "proxy.lan" (e.g. 127.0.0.1, 10.0.0.0/8, ::1)\n');
    const cons = await spawnConsole(['--data', p.dir, '--broker', broker.url, '--port', '0', '--trust-proxy', '10.0.0.0/8,127.0.0.1'], env);
    try {
      const r = await fetch(new URL('/api/login', cons.url), { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.7' }, body: JSON.stringify({ name: 'editor', password: 'nope' }) });
      assert.is(r.status, 401);
      const last = p.registry.auditLog(5).find((a) => a.action === 'login.failed');
      assert.is(last?.subject, '203.0.113.7');
    } finally {
      await cons.stop();
    }
  } finally {
    await broker.stop();
    p.registry.close();
  }
});

test.run();

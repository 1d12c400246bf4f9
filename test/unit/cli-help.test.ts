import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { root, main } from '../../cli/loa.js';
import type { Command, Group } from '../../lib/cli.js';

function paths(g: Group, prefix: string[] = []): string[][] {
  return Object.entries(g.commands).flatMap(([name, c]) => (c.kind === 'group' ? [[...prefix, name], ...paths(c, [...prefix, name])] : [[...prefix, name]]));
}

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('every command and group answers --help with exit 0', async () => {
  const all = [[], ...paths(root)];
  assert.ok(all.length >= 12, `${all.length} commands`);
  for (const p of all) {
    const r = await run([...p, '--help']);
    assert.is(r.code, 0, p.join(' '));
    assert.match(r.out, /^Usage: loa/, p.join(' '));
  }
});

test('long-running commands take --data and, where they listen, --host and --port', () => {
  const broker = root.commands.broker as Command;
  for (const o of ['data', 'host', 'port']) assert.ok(broker.options?.[o], o);
});

test('usage errors exit 2 and say what is wrong', async () => {
  const r = await run(['broker', '--port', 'abc', '--data', '/nonexistent']);
  assert.is(r.code, 2);
  assert.match(r.err, /--port must be an integer/);
  assert.is((await run([])).code, 2);
});

test.run();

import { parseArgs } from 'node:util';
import { LoaError, reasonOf } from '../protocol/errors.js';

// A small command tree over node:util parseArgs. Every command and group
// answers --help; a usage error prints one line and the command's usage and
// exits 2; a LoaError prints `loa: CODE: message` and exits 1.

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  description: string;
  placeholder?: string;
  default?: string | boolean;
}

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
}

export interface Invocation {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  io: Io;
}

export interface Command {
  kind: 'command';
  summary: string;
  /** Positional arguments, for the usage line: e.g. ['PATH']. Trailing '...' takes the rest. */
  args?: { name: string; description: string; optional?: boolean }[];
  options?: Record<string, OptionSpec>;
  /** Extra paragraphs after the option list. */
  help?: string;
  run: (inv: Invocation) => Promise<number> | number;
}

export interface Group {
  kind: 'group';
  summary: string;
  commands: Record<string, Command | Group>;
}

export function command(c: Omit<Command, 'kind'>): Command {
  return { kind: 'command', ...c };
}
export function group(summary: string, commands: Record<string, Command | Group>): Group {
  return { kind: 'group', summary, commands };
}

export class UsageError extends Error {}

function groupHelp(path: string[], g: Group): string {
  const width = Math.max(...Object.keys(g.commands).map((k) => k.length)) + 2;
  const lines = [`Usage: ${path.join(' ')} <command> [options]`, '', g.summary, '', 'Commands:'];
  for (const [name, c] of Object.entries(g.commands)) lines.push(`  ${name.padEnd(width)}${c.summary}`);
  lines.push('', `Run "${path.join(' ')} <command> --help" for a command's options.`);
  return lines.join('\n');
}

function usageLine(path: string[], c: Command): string {
  const args = (c.args ?? []).map((a) => (a.optional ? `[${a.name}]` : a.name)).join(' ');
  return `Usage: ${path.join(' ')}${args ? ' ' + args : ''}${c.options && Object.keys(c.options).length ? ' [options]' : ''}`;
}

export function commandHelp(path: string[], c: Command): string {
  const lines = [usageLine(path, c), '', c.summary];
  if (c.args?.length) {
    lines.push('', 'Arguments:');
    const w = Math.max(...c.args.map((a) => a.name.length)) + 2;
    for (const a of c.args) lines.push(`  ${a.name.padEnd(w)}${a.description}`);
  }
  const opts = Object.entries(c.options ?? {});
  lines.push('', 'Options:');
  const labels = opts.map(([name, o]) => `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.placeholder ?? 'VALUE'}` : ''}`);
  const w = Math.max(10, ...labels.map((l) => l.length)) + 2;
  opts.forEach(([, o], i) => {
    const def = o.default !== undefined && o.default !== false ? ` (default: ${String(o.default)})` : '';
    lines.push(`  ${labels[i]!.padEnd(w)}${o.description}${def}`);
  });
  lines.push(`  ${'-h, --help'.padEnd(w)}show this help`);
  if (c.help) lines.push('', c.help.trim());
  return lines.join('\n');
}

/** Runs argv against the tree; returns the exit code. Never throws. */
export async function runCli(root: Group, rootName: string, argv: string[], io: Io): Promise<number> {
  const path = [rootName];
  let node: Command | Group = root;
  let i = 0;
  while (node.kind === 'group') {
    const word = argv[i];
    if (word === undefined || word === '--help' || word === '-h' || word === 'help') {
      (word === undefined ? io.err : io.out)(groupHelp(path, node));
      return word === undefined ? 2 : 0;
    }
    const next: Command | Group | undefined = Object.hasOwn(node.commands, word) ? node.commands[word] : undefined;
    if (!next) {
      io.err(`${path.join(' ')}: unknown command "${word}"`);
      io.err(groupHelp(path, node));
      return 2;
    }
    path.push(word);
    node = next;
    i++;
  }
  const cmd = node;
  const rest = argv.slice(i);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(commandHelp(path, cmd));
    return 0;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
    for (const [name, o] of Object.entries(cmd.options ?? {})) options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
    const spec = cmd.args ?? [];
    const variadic = spec.at(-1)?.name.endsWith('...');
    const required = spec.filter((a) => !a.optional).length;
    if (parsed.positionals.length < required) throw new UsageError(`missing ${spec[parsed.positionals.length]!.name}`);
    if (!variadic && parsed.positionals.length > spec.length) throw new UsageError(`unexpected argument "${parsed.positionals[spec.length]}"`);
  } catch (e) {
    io.err(`${path.join(' ')}: ${(e as Error).message.replace(/\. To specify a positional.*$/s, '')}`);
    io.err(usageLine(path, cmd));
    io.err(`Run "${path.join(' ')} --help" for details.`);
    return 2;
  }
  const values: Invocation['values'] = {};
  for (const [name, o] of Object.entries(cmd.options ?? {})) {
    const v = (parsed.values as Record<string, string | boolean | string[] | undefined>)[name];
    values[name] = v ?? (o.default as string | boolean | undefined);
  }
  try {
    return await cmd.run({ values, positionals: parsed.positionals, io });
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`${path.join(' ')}: ${e.message}`);
      io.err(`Run "${path.join(' ')} --help" for details.`);
      return 2;
    }
    if (e instanceof LoaError) {
      io.err(`${path.join(' ')}: ${e.code}: ${e.message}`);
      return 1;
    }
    io.err(`${path.join(' ')}: unexpected error: ${reasonOf(e)}`);
    if (e instanceof Error && e.stack && io.env.LOA_DEBUG) io.err(e.stack);
    return 1;
  }
}

export function str(v: Invocation['values'][string]): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function int(name: string, v: Invocation['values'][string], bounds: { min: number; max: number }): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  if (!/^-?\d+$/.test(s)) throw new UsageError(`--${name} must be an integer, got "${s}"`);
  const n = Number(s);
  if (n < bounds.min || n > bounds.max) throw new UsageError(`--${name} must be between ${bounds.min} and ${bounds.max}, got ${n}`);
  return n;
}

export { LoaError };

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { LoaError } from '../protocol/errors.js';

// One typed config per program, built from layers in a fixed order:
// defaults (in the schema) → the JSON file → LOA_* environment → flags.
// It is validated once, every problem is reported together, and the result
// is frozen and passed down.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Layer = Record<string, unknown>;

/** Reads a JSON config file, or throws LOA_E_CONFIG_INVALID naming the file. */
export function readConfigFile(file: string): Layer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new LoaError('LOA_E_CONFIG_INVALID', `cannot read config file ${file}: ${(e as Error).message}`, { cause: e });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new LoaError('LOA_E_CONFIG_INVALID', `config file ${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new LoaError('LOA_E_CONFIG_INVALID', `config file ${file} must hold a JSON object`);
  return v as Layer;
}

/**
 * Maps environment variables to config paths: { LOA_PORT: 'port', LOA_TLS_CERT: 'tls.cert' }.
 * Values are strings; numbers and booleans are coerced by the schema's `z.coerce`-free
 * rule here: "true"/"false" become booleans and integers become numbers only where
 * `kinds` says so, so a numeric-looking password stays a string.
 */
export function envLayer(env: NodeJS.ProcessEnv, map: Record<string, { path: string; kind: 'string' | 'int' | 'bool' }>): Layer {
  const out: Layer = {};
  for (const [name, { path, kind }] of Object.entries(map)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let v: Json = raw;
    if (kind === 'int') v = /^-?\d+$/.test(raw) ? Number(raw) : raw;
    if (kind === 'bool') v = raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw;
    setPath(out, path, v);
  }
  return out;
}

export function setPath(obj: Layer, path: string, value: unknown): void {
  const parts = path.split('.');
  let o = obj as Record<string, unknown>;
  for (const p of parts.slice(0, -1)) {
    if (typeof o[p] !== 'object' || o[p] === null) o[p] = {};
    o = o[p] as Record<string, unknown>;
  }
  o[parts.at(-1)!] = value;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Later layers win; objects merge key by key, anything else replaces. */
export function mergeLayers(...layers: Layer[]): Layer {
  const out: Layer = {};
  for (const l of layers) mergeInto(out, l);
  return out;
}

function mergeInto(target: Record<string, unknown>, src: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(src)) {
    if (v === undefined) continue;
    if (isPlain(v) && isPlain(target[k])) mergeInto(target[k] as Record<string, unknown>, v);
    else target[k] = isPlain(v) ? mergeLayers(v) : v;
  }
}

export function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/** Validates the merged layers; on failure lists every problem with its path and how to set it. */
export function buildConfig<S extends z.ZodType>(schema: S, layers: Layer[], what: string, hint?: string): Readonly<z.output<S>> {
  const r = schema.safeParse(mergeLayers(...layers));
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  - ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
    throw new LoaError('LOA_E_CONFIG_INVALID', `${what} configuration is invalid:\n${lines.join('\n')}${hint ? `\n${hint}` : ''}`, { context: { issues: r.error.issues } });
  }
  return deepFreeze(r.data);
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let cached: string | null = null;

/** Loa's version from package.json (dist/lib/version.js sits two levels below it). */
export function loaVersion(): string {
  if (cached) return cached;
  try {
    cached = (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    cached = '0.0.0';
  }
  return cached;
}

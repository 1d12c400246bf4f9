import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export interface CapturedLog {
  log: Logger;
  lines: Record<string, unknown>[];
  find(pred: (l: Record<string, unknown>) => boolean): Record<string, unknown> | undefined;
}

/** A real pino logger whose JSON lines are kept for assertions. */
export function captureLog(level: 'debug' | 'info' | 'warn' = 'info'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const log = pino({ level }, sink);
  return { log, lines, find: (pred) => lines.find(pred) };
}

import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

// One root logger per program, built in its composition root; modules take a
// child (`log.child({ mod: 'acl' })`) from their deps. Errors go under `err`,
// ids as fields. Secrets are redacted wherever they might be passed.

export function createLogger(opts: { level?: LevelWithSilent; name: string; destination?: NodeJS.WritableStream | number }): Logger {
  const level = opts.level ?? ((process.env.LOA_LOG_LEVEL as LevelWithSilent | undefined) || 'info');
  return pino(
    {
      name: opts.name,
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['password', 'secret', '*.password', '*.secret', 'privateKey'], censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
    },
    typeof opts.destination === 'number' ? pino.destination({ fd: opts.destination, sync: false }) : (opts.destination as NodeJS.WritableStream | undefined) ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** A logger that writes nothing, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

import { LoaError } from '../../protocol/errors.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS, speedOf, voiceOf, type SynthesisOptions, type TtsEngine } from './types.js';

// A TTS service over HTTP (a neural voice on a province server, a vendor's
// API behind a small adapter): POST application/json `{ text, voice, speed }`
// to the configured URL; the answer is the audio, `audio/wav` (any `audio/*`
// type is accepted here, and textToSpeech then insists on WAV bytes).
// `speed` is the factor (0.5–2, 1 = normal); `voice` is null when neither
// the config nor the call names one.

export interface HttpOptions {
  url: string;
  voice?: string;
  speed?: number;
  /** Whole request, answer body included. */
  timeoutMs?: number;
  maxBytes?: number;
  /** Extra request headers (e.g. an API key read from a secret file by the caller). */
  headers?: Readonly<Record<string, string>>;
}

function fail(message: string, reason: string, context: Record<string, unknown> = {}, cause?: unknown): LoaError {
  return new LoaError('LOA_E_TTS_FAILED', `http TTS: ${message}`, { cause, context: { engine: 'http', reason, ...context } });
}

/** Reads a response body up to `max` bytes; more aborts the request. */
async function readCapped(res: Response, max: number, abort: () => void, url: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    abort();
    throw fail(`${url} answered ${declared} bytes, more than the ${max} allowed`, 'too-large', { url, bytes: declared });
  }
  const parts: Buffer[] = [];
  let n = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    n += chunk.length;
    if (n > max) {
      abort();
      throw fail(`${url} answered more than the ${max} bytes allowed`, 'too-large', { url });
    }
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts);
}

export class HttpEngine implements TtsEngine {
  readonly name = 'http';
  readonly #o: HttpOptions & { timeoutMs: number; maxBytes: number };

  constructor(opts: HttpOptions) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch (e) {
      throw new LoaError('LOA_E_CONFIG_INVALID', `the http TTS engine needs \`url\`: ${JSON.stringify(opts.url)} is not a URL`, { cause: e, context: { engine: 'http' } });
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new LoaError('LOA_E_CONFIG_INVALID', `the http TTS engine needs an http(s) URL, not ${u.protocol}`, { context: { engine: 'http' } });
    this.#o = { timeoutMs: DEFAULT_TIMEOUT_MS, maxBytes: DEFAULT_MAX_BYTES, ...opts };
  }

  async synthesize(text: string, opts: SynthesisOptions = {}): Promise<Buffer> {
    const given = opts.voice ?? this.#o.voice;
    const voice = given === undefined ? null : voiceOf(given, given, this.name);
    const speed = speedOf(opts.speed ?? this.#o.speed, this.name);
    const { url, timeoutMs, maxBytes } = this.#o;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error('timeout')), timeoutMs);
    try {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'audio/wav, audio/*', ...this.#o.headers },
          body: JSON.stringify({ text, voice, speed }),
          signal: ac.signal,
          redirect: 'error',
        });
      } catch (e) {
        if (ac.signal.aborted) throw fail(`${url} did not answer within ${timeoutMs} ms`, 'timeout', { url, timeoutMs }, e);
        const why = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message;
        throw fail(`cannot reach ${url}: ${why}`, 'unreachable', { url }, e);
      }
      if (!res.ok) {
        // The start of the body usually says why (a JSON error, a proxy page).
        const body = (await res.text().catch(() => '')).replace(/\s+/g, ' ').trim().slice(0, 300);
        throw fail(`${url} answered ${res.status} ${res.statusText}${body ? `: ${body}` : ''}`, 'http-status', { url, status: res.status });
      }
      const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (!type.startsWith('audio/')) {
        ac.abort();
        throw fail(`${url} answered ${type || 'no content type'}, not audio (expected audio/wav)`, 'content-type', { url, contentType: type });
      }
      try {
        return await readCapped(res, maxBytes, () => ac.abort(), url);
      } catch (e) {
        if (e instanceof LoaError) throw e;
        if (ac.signal.aborted) throw fail(`${url} did not finish its answer within ${timeoutMs} ms`, 'timeout', { url, timeoutMs }, e);
        throw fail(`reading the answer of ${url} failed: ${(e as Error).message}`, 'unreachable', { url }, e);
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

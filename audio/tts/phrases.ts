import { access, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LoaError } from '../../protocol/errors.js';
import { PCM, pcmBytes } from '../types.js';
import { wavHeader } from '../wav-sink.js';
import { textToSpeech } from './engine.js';
import { runPipe } from './run.js';
import { DEFAULT_TIMEOUT_MS, type TtsEngine } from './types.js';

// The phrase bank: no TTS engine speaks Ba Na, Xơ Đăng or Gia Rai, so
// messages in those languages are assembled from phrases recorded by native
// speakers. A bank is a directory:
//
//   <bank>/<lang>/<phrase-id>.wav|.ogg|.mp3     one recorded phrase
//   <bank>/templates/<template-id>.json          a message made of parts
//
// A template is { "id", "title", "parts": [ { "tts": "…{village}…" } |
// { "phrase": "<lang>/<phrase-id>" } ] }. A tts part is Vietnamese spoken
// by the configured engine with the variables filled in; a phrase part is a
// recording. The assembled message is one WAV in Loa's PCM format (48 kHz
// mono s16le), the parts separated by a short silence.

export type TemplatePart = { tts: string } | { phrase: string };

export interface Template {
  id: string;
  title: string;
  parts: TemplatePart[];
}

/** Template, language and phrase ids: lower-case ASCII slugs, so they are safe as file names. */
export const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const VAR = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** Recording formats looked for, in this order. */
export const PHRASE_EXTENSIONS = ['wav', 'ogg', 'mp3'] as const;
/** Silence between parts: long enough to hear a new part begin, short enough not to sound like the end. */
export const DEFAULT_GAP_MS = 400;

function invalidTemplate(id: string, why: string, context: Record<string, unknown> = {}): LoaError {
  return new LoaError('LOA_E_CONFIG_INVALID', `template ${id}: ${why}`, { context: { template: id, ...context } });
}

/** Checks a parsed template file (pure); throws LOA_E_CONFIG_INVALID listing every problem. */
export function parseTemplate(v: unknown, id: string): Template {
  const problems: string[] = [];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidTemplate(id, 'must be a JSON object');
  const t = v as Record<string, unknown>;
  for (const k of Object.keys(t)) if (!['id', 'title', 'parts'].includes(k)) problems.push(`unknown field "${k}"`);
  if (t.id !== id) problems.push(`"id" must be "${id}", the file's name, not ${JSON.stringify(t.id)}`);
  if (typeof t.title !== 'string' || t.title.trim() === '') problems.push('"title" must be a non-empty string');
  if (!Array.isArray(t.parts) || t.parts.length === 0) problems.push('"parts" must be a non-empty array');
  const parts: TemplatePart[] = [];
  (Array.isArray(t.parts) ? t.parts : []).forEach((p: unknown, i) => {
    const keys = typeof p === 'object' && p !== null ? Object.keys(p) : [];
    const o = p as Record<string, unknown>;
    if (keys.length === 1 && keys[0] === 'tts' && typeof o.tts === 'string' && o.tts.trim() !== '') parts.push({ tts: o.tts.normalize('NFC') });
    else if (keys.length === 1 && keys[0] === 'phrase' && typeof o.phrase === 'string' && o.phrase.split('/').length === 2 && o.phrase.split('/').every((s) => SLUG.test(s))) parts.push({ phrase: o.phrase });
    else problems.push(`parts[${i}] must be { "tts": "text" } or { "phrase": "<lang>/<phrase-id>" } (lower-case ASCII slugs), not ${JSON.stringify(p)}`);
  });
  if (problems.length) throw invalidTemplate(id, problems.join('; '), { problems });
  return { id, title: (t.title as string).normalize('NFC'), parts };
}

/** The variables a template's tts parts use, each once, in order of appearance. */
export function templateVariables(t: Template): string[] {
  const names = new Set<string>();
  for (const p of t.parts) if ('tts' in p) for (const m of p.tts.matchAll(VAR)) names.add(m[1]!);
  return [...names];
}

/**
 * The template's parts with `vars` filled in (pure). Every `{name}` must be
 * given a non-empty string; values are NFC-normalised and inserted as they
 * are (a value containing "{x}" is not expanded again). Unused values are
 * ignored. Throws LOA_E_CONFIG_INVALID naming every missing variable.
 */
export function fillTemplate(t: Template, vars: Readonly<Record<string, unknown>>): TemplatePart[] {
  const missing = templateVariables(t).filter((n) => typeof vars[n] !== 'string' || (vars[n] as string).trim() === '');
  if (missing.length) {
    throw invalidTemplate(t.id, `no value for ${missing.map((n) => `{${n}}`).join(', ')} (every variable must be given a non-empty string)`, { missing });
  }
  return t.parts.map((p) => ('tts' in p ? { tts: p.tts.replace(VAR, (_m, n: string) => (vars[n] as string).normalize('NFC').trim()) } : p));
}

/** Reads and checks `<bank>/templates/<id>.json`. */
export async function loadTemplate(bankDir: string, templateId: string): Promise<Template> {
  if (!SLUG.test(templateId)) throw invalidTemplate(templateId, 'a template id is a lower-case ASCII slug');
  const file = join(resolve(bankDir), 'templates', `${templateId}.json`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw invalidTemplate(templateId, `cannot read ${file}: ${(e as Error).message}`, { file });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw invalidTemplate(templateId, `${file} is not valid JSON: ${(e as Error).message}`, { file });
  }
  return parseTemplate(v, templateId);
}

/** The recording of `<lang>/<phrase-id>` in the bank, or null. */
export async function findPhrase(bankDir: string, ref: string): Promise<string | null> {
  const [lang = '', phrase = ''] = ref.split('/');
  for (const ext of PHRASE_EXTENSIONS) {
    const file = join(resolve(bankDir), lang, `${phrase}.${ext}`);
    try {
      await access(file);
      return file;
    } catch {
      // next extension
    }
  }
  return null;
}

export interface AssembleOptions {
  /** Silence between parts (ms); default 400. */
  gapMs?: number;
  /** For the tts parts. */
  voice?: string;
  speed?: number;
  /** ffmpeg binary; default `ffmpeg` on PATH. */
  ffmpegPath?: string;
  /** Per ffmpeg run; default 60 s. */
  timeoutMs?: number;
}

/** Any audio ffmpeg reads (a file, or WAV bytes on stdin) as Loa's PCM: 48 kHz mono s16le. */
async function toPcm(src: { file: string } | { bytes: Buffer }, opts: AssembleOptions): Promise<Buffer> {
  // "file:" keeps a path with a colon in it from being read as a protocol.
  // A WAV in memory comes on stdin; a file is read by ffmpeg, stdin closed (-nostdin).
  const input = 'file' in src ? ['-nostdin', '-i', `file:${src.file}`] : ['-i', 'pipe:0'];
  const argv = [opts.ffmpegPath ?? 'ffmpeg', '-hide_banner', '-loglevel', 'error', ...input, '-vn', '-ac', String(PCM.channels), '-ar', String(PCM.sampleRate), '-c:a', 'pcm_s16le', '-f', 's16le', 'pipe:1'];
  return runPipe(argv, { engine: 'ffmpeg', input: 'bytes' in src ? src.bytes : '', timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, maxBytes: 1024 * 1024 * 1024 });
}

/**
 * Assembles template `templateId` of the bank with `vars` into one WAV (48
 * kHz mono s16le): tts parts through textToSpeech with `engine`, phrase parts
 * from their recordings, `gapMs` of silence between parts. Every recording is
 * looked up before anything is synthesised: a missing one fails at once with
 * LOA_E_AUDIO_INVALID naming the language and the phrase.
 */
export async function assembleTemplate(bankDir: string, templateId: string, vars: Readonly<Record<string, unknown>>, engine: TtsEngine, opts: AssembleOptions = {}): Promise<Buffer> {
  const template = await loadTemplate(bankDir, templateId);
  const parts = fillTemplate(template, vars);
  const files = new Map<string, string>();
  const missing: string[] = [];
  for (const p of parts) {
    if (!('phrase' in p) || files.has(p.phrase)) continue;
    const f = await findPhrase(bankDir, p.phrase);
    if (f) files.set(p.phrase, f);
    else missing.push(p.phrase);
  }
  if (missing.length) {
    const said = missing.map((r) => `"${r.split('/')[1]}" in language ${r.split('/')[0]}`).join(', ');
    throw new LoaError('LOA_E_AUDIO_INVALID', `template ${templateId}: the phrase bank has no recording of ${said} (looked for <bank>/<lang>/<phrase>.${PHRASE_EXTENSIONS.join('|')} in ${resolve(bankDir)})`, {
      context: { template: templateId, missing: missing.map((r) => ({ lang: r.split('/')[0], phrase: r.split('/')[1] })), reason: 'phrase-missing' },
    });
  }
  const gap = Buffer.alloc(pcmBytes(opts.gapMs ?? DEFAULT_GAP_MS));
  const pcm: Buffer[] = [];
  for (const [i, p] of parts.entries()) {
    if (i > 0) pcm.push(gap);
    if ('phrase' in p) {
      const file = files.get(p.phrase)!;
      try {
        pcm.push(await toPcm({ file }, opts));
      } catch (e) {
        const [lang, phrase] = p.phrase.split('/');
        throw new LoaError('LOA_E_AUDIO_INVALID', `template ${templateId}: the recording of "${phrase}" in language ${lang} (${file}) cannot be decoded: ${(e as Error).message}`, { cause: e, context: { template: templateId, lang, phrase, file, reason: 'phrase-unreadable' } });
      }
    } else {
      const wav = await textToSpeech(p.tts, { engine, ...(opts.voice ? { voice: opts.voice } : {}), ...(opts.speed ? { speed: opts.speed } : {}) });
      pcm.push(await toPcm({ bytes: wav }, opts));
    }
  }
  const data = Buffer.concat(pcm);
  return Buffer.concat([wavHeader(data.length), data]);
}

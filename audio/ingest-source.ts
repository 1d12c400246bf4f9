// What the ingest (audio/ingest.ts) learns about a file before it spends
// time decoding it, and how it words a refusal. Pure: it reads ffprobe's JSON
// and the file's first bytes, both handed in.

/** Why a file is refused; `context.reason` of the LOA_E_AUDIO_INVALID error, for the console to word it in Vietnamese. */
export type Refusal =
  | 'unreadable'
  | 'empty'
  | 'not-audio'
  | 'no-audio-stream'
  | 'damaged'
  | 'truncated'
  | 'too-long'
  | 'silent';

export interface Refused {
  refused: Refusal;
  message: string;
}

export interface Source {
  /** Container and codec, e.g. "mp3", "wav/pcm_s16le", "ogg/opus", "mp4/aac". */
  format: string;
  /** The duration the container declares (ms), or null when it has none or ffprobe only estimated it from the bitrate. */
  declaredMs: number | null;
  /** Best known duration (ms) for progress and the length limit, estimated or not; null when unknown. */
  durationMs: number | null;
}

/** The subset of `ffprobe -of json -show_format -show_streams` used here. */
export interface ProbeJson {
  streams?: { codec_type?: string; codec_name?: string; duration?: string; disposition?: { attached_pic?: number } }[];
  format?: { format_name?: string; format_long_name?: string; duration?: string };
}

// First bytes of common files that are not audio, for a message that names
// what was uploaded. ffprobe alone calls a PDF renamed .mp3 an MP3 "detected
// only with low score" that fails to read.
const NOT_AUDIO: [RegExp | number[], string][] = [
  [/^%PDF-/, 'PDF document'],
  [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG image'],
  [[0xff, 0xd8, 0xff], 'JPEG image'],
  [/^GIF8[79]a/, 'GIF image'],
  [/^RIFF....WEBP/s, 'WebP image'],
  [/^BM....\0\0\0\0/s, 'BMP image'],
  [/^II\*\0|^MM\0\*/, 'TIFF image'],
  [[0x50, 0x4b, 0x03, 0x04], 'ZIP archive (or a Word/Excel document)'],
  [[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1], 'old Word/Excel document'],
  [/^\{\\rtf/, 'RTF document'],
  [/^\s*<(!doctype html|html|\?xml)/i, 'HTML or XML page'],
  [/^%!PS/, 'PostScript document'],
  [/^\x7fELF/, 'program (ELF)'],
  [/^MZ/, 'Windows program'],
  [[0x1f, 0x8b], 'gzip archive'],
  [/^Rar!/, 'RAR archive'],
  [/^7z\xbc\xaf/, '7-Zip archive'],
];

// First bytes of audio containers: a file that starts like one but that
// ffprobe cannot read is damaged, not of the wrong kind.
const AUDIO: RegExp[] = [/^ID3/, /^RIFF....WAVE/s, /^OggS/, /^fLaC/, /^....ftyp/s, /^FORM....AIF/s, /^\xff[\xe0-\xff]/, /^#!AMR/, /^caff/, /^\x30\x26\xb2\x75/];

function matches(head: Buffer, sig: RegExp | number[]): boolean {
  if (Array.isArray(sig)) return sig.every((b, i) => head[i] === b);
  return sig.test(head.toString('latin1'));
}

/** What the first bytes say the file is, when they name something that is not audio. */
export function sniffNotAudio(head: Buffer): string | null {
  return NOT_AUDIO.find(([sig]) => matches(head, sig))?.[1] ?? null;
}

export const looksLikeAudio = (head: Buffer): boolean => AUDIO.some((sig) => matches(head, sig));

/** Container, simplified: ffprobe names MP4 "mov,mp4,m4a,3gp,3g2,mj2". */
function container(formatName: string): string {
  const names = formatName.split(',');
  if (names.includes('mp4')) return 'mp4';
  return names[0] || 'unknown';
}

const seconds = (s: string | undefined) => (s === undefined || s === 'N/A' ? NaN : Number(s));

/** Formats whose single video "stream" is a picture, not a film. */
const IMAGE_FORMAT = /_pipe$|^image2|^gif$|^apng$|^ico$|^webp/;

/**
 * Classifies a probed file: the audio stream ingest will use and what the
 * container says about its length, or why it cannot be used. `probeWarnings`
 * is ffprobe's stderr at -v warning; it tells an estimated duration apart
 * from a declared one.
 */
export function classify(probe: ProbeJson, probeWarnings: string, head: Buffer): Source | Refused {
  const sniffed = sniffNotAudio(head);
  if (sniffed) return { refused: 'not-audio', message: `not an audio file: ${sniffed}` };
  const formatName = probe.format?.format_name ?? '';
  const streams = probe.streams ?? [];
  const audio = streams.find((s) => s.codec_type === 'audio');
  if (!audio) {
    const video = streams.filter((s) => s.codec_type === 'video');
    const picture = IMAGE_FORMAT.test(formatName) || (video.length > 0 && video.every((s) => s.disposition?.attached_pic));
    if (picture || !video.length) {
      const what = probe.format?.format_long_name || formatName || 'unknown data';
      return { refused: 'not-audio', message: `not an audio file: ${what}` };
    }
    const codecs = [...new Set(video.map((s) => s.codec_name ?? '?'))].join(', ');
    return { refused: 'no-audio-stream', message: `the file has no audio stream (only video: ${codecs})` };
  }
  const c = container(formatName);
  const codec = audio.codec_name ?? 'unknown';
  const s = Number.isFinite(seconds(audio.duration)) ? seconds(audio.duration) : seconds(probe.format?.duration);
  const ms = Number.isFinite(s) && s > 0 ? Math.round(s * 1000) : null;
  const estimated = /Estimating duration from bitrate/i.test(probeWarnings);
  return { format: codec === c ? c : `${c}/${codec}`, declaredMs: estimated ? null : ms, durationMs: ms };
}

/** The refusal for a file ffprobe cannot open at all. */
export function unprobeable(head: Buffer, reason: string): Refused {
  const sniffed = sniffNotAudio(head);
  if (sniffed) return { refused: 'not-audio', message: `not an audio file: ${sniffed}` };
  if (looksLikeAudio(head)) return { refused: 'damaged', message: `the file is damaged or truncated: ${reason}` };
  return { refused: 'not-audio', message: `not an audio file: ffmpeg does not recognise its content (${reason})` };
}

/** Decoded audio shorter than declared by more than this is a truncated file: an MP3's encoder delay and padding are tens of ms. */
export const truncationToleranceMs = (declaredMs: number) => Math.max(250, declaredMs * 0.01);

/**
 * Whether a file that decoded without a fatal error is nonetheless cut short:
 * nothing decoded at all, or less than its container declares (an MP3's Xing
 * header, FLAC's STREAMINFO, an MP4's sample table). A file that declares
 * nothing (Ogg, a WAV whose length ffprobe estimates) can only be checked for
 * being empty; a cut Ogg file is indistinguishable from a shorter recording.
 * `decodeErrors` are ffmpeg's first error lines, the reason to quote.
 */
export function truncation(src: Source, decodedMs: number, decodeErrors: readonly string[]): Refused | null {
  const why = decodeErrors.length ? ` (ffmpeg: ${decodeErrors[0]})` : '';
  if (decodedMs < 1) return { refused: 'truncated', message: `the file is truncated: it holds no audio that can be decoded${why}` };
  if (src.declaredMs !== null && decodedMs < src.declaredMs - truncationToleranceMs(src.declaredMs)) {
    return {
      refused: 'truncated',
      message: `the file is truncated or damaged: it declares ${formatDuration(src.declaredMs)} of audio but only ${formatDuration(decodedMs)} can be decoded${why}`,
    };
  }
  return null;
}

/** "2 h 5 min", "3 min 20 s", "12.5 s". */
export function formatDuration(ms: number): string {
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s`;
  const total = Math.round(ms / 1000);
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  return [h && `${h} h`, m && `${m} min`, s && `${s} s`].filter(Boolean).join(' ');
}

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { LoaError } from '../protocol/errors.js';
import { PCM } from './types.js';

// Opus for live broadcast: the province encodes speech in 20 ms frames (48 kHz
// mono, wideband, VOIP) and every village agent decodes them, concealing a
// frame that misses its playout instant (PLC) or rebuilding it from the next
// packet's in-band FEC (LBRR). libopus itself is the portable WebAssembly
// build shipped in @evan/opus, but its exports are called directly: the
// package's JavaScript API hard-codes the decode frame size (120 ms;
// opusscript's 60 ms) and always passes decode_fec=0, so neither PLC of exactly
// one 20 ms frame nor FEC can be asked of it. One wasm instance serves the
// process (loaded at first use); each codec mallocs its state and scratch
// buffers in it and frees them at close(). Memory growth detaches the
// typed-array views on the wasm memory, so they are re-made at every growth.

export const OPUS_FRAME_MS = 20;
/** Samples in one frame: 20 ms at 48 kHz, mono. */
export const OPUS_FRAME_SAMPLES = (PCM.sampleRate * OPUS_FRAME_MS) / 1000;
/** libopus' recommended output buffer for one packet; also the longest packet decode() takes. */
const MAX_PACKET = 4000;
/** The longest packet libopus decodes: 120 ms. */
const MAX_DECODE = (PCM.sampleRate * 120) / 1000;
/** libopus constants (opus_defines.h): application VOIP, wideband, voice; the encoder CTLs used. */
const [VOIP, WIDEBAND, VOICE] = [2048, 1103, 3001];
const SET = { bitrate: 4002, maxBandwidth: 4004, inbandFec: 4012, packetLossPerc: 4014, signal: 4024 } as const;
/** A module using one SIMD instruction (the probe @evan/opus uses): valid where simd.wasm runs. */
const SIMD_PROBE = Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 9, 1, 7, 0, 65, 0, 253, 15, 26, 11);

/** The exports called, with libopus' C signatures (pointers are offsets into `memory`). */
interface Libopus {
  memory: { buffer: ArrayBuffer };
  _initialize?: () => void;
  malloc(bytes: number): number;
  free(ptr: number): void;
  opus_strerror(status: number): number;
  opus_encoder_get_size(channels: number): number;
  opus_encoder_init(st: number, fs: number, channels: number, application: number): number;
  opus_encoder_ctl_set(st: number, request: number, value: number): number;
  opus_encode(st: number, pcm: number, frameSize: number, data: number, maxBytes: number): number;
  opus_decoder_get_size(channels: number): number;
  opus_decoder_init(st: number, fs: number, channels: number): number;
  opus_decode(st: number, data: number, len: number, pcm: number, frameSize: number, decodeFec: number): number;
}
/** The bit of the WebAssembly global used here (lib "es2023" has no WebAssembly types). */
interface Wasm {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, (...a: number[]) => unknown>>) => { exports: unknown };
}

let lib: Libopus | null = null;
let u8 = new Uint8Array(0);
let i16 = new Int16Array(0);
const remap = (): void => void ((u8 = new Uint8Array(lib!.memory.buffer)), (i16 = new Int16Array(lib!.memory.buffer)));
const opusError = (message: string, context: Record<string, unknown>): LoaError => new LoaError('LOA_E_OPUS', message, { context });

function libopus(): Libopus {
  if (lib) return lib;
  const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;
  const dir = join(dirname(createRequire(import.meta.url).resolve('@evan/opus/package.json')), 'wasm');
  const module = new wasm.Module(readFileSync(join(dir, wasm.validate(SIMD_PROBE) ? 'simd.wasm' : 'opus.wasm')));
  const { exports } = new wasm.Instance(module, {
    wasi_snapshot_preview1: {
      // stdio goes nowhere, but is said to be written (musl retries a short write forever)
      fd_write: (_fd, iovs, count, written) => {
        const view = new DataView(lib!.memory.buffer);
        let total = 0;
        for (let i = 0; i < count!; i++) total += view.getUint32(iovs! + i * 8 + 4, true);
        view.setUint32(written!, total, true);
        return 0;
      },
      fd_seek: () => 0,
      fd_close: () => 0,
      proc_exit: (code) => {
        throw opusError(`libopus aborted (exit status ${code})`, { reason: 'abort' });
      },
    },
    env: { emscripten_notify_memory_growth: remap },
  });
  lib = exports as Libopus;
  lib._initialize?.();
  remap();
  return lib;
}

/** A libopus return value, or a LoaError with libopus' own reason (opus_strerror) when it is an error status (< 0). */
function check(status: number, fn: string, what: string): number {
  if (status >= 0) return status;
  const text = libopus().opus_strerror(status);
  const reason = Buffer.from(u8.subarray(text, u8.indexOf(0, text))).toString('latin1');
  throw opusError(`${what}: libopus ${fn} failed: ${reason} (${status})`, { fn, status, reason });
}

/** Frees what a codec malloc'd if it is garbage-collected without close(). */
const orphans = new FinalizationRegistry<number[]>((ptrs) => ptrs.forEach((p) => lib?.free(p)));

/** malloc'd blocks of one codec (its libopus state first, then buffers), freed together by close() or the finaliser. */
abstract class WasmCodec {
  #ptrs: number[] | null = [];
  protected readonly lib = libopus();

  /** Allocates `sizes` and runs `init` on them; on any failure frees them and throws. */
  protected constructor(sizes: number[], init: (lib: Libopus, ptrs: number[]) => void) {
    try {
      for (const size of sizes) {
        const p = this.lib.malloc(size);
        if (!p) throw opusError(`cannot allocate ${size} bytes in the libopus memory`, { reason: 'memory' });
        this.#ptrs!.push(p);
      }
      init(this.lib, this.#ptrs!);
    } catch (e) {
      throw (this.close(), e);
    }
    orphans.register(this, this.#ptrs!, this);
  }

  protected ptrs(): number[] {
    if (!this.#ptrs) throw opusError(`${this.constructor.name} is closed`, { reason: 'closed' });
    return this.#ptrs;
  }

  /** Frees the codec's wasm memory. Idempotent; any later call throws. */
  close(): void {
    if (!this.#ptrs) return;
    orphans.unregister(this);
    for (const p of this.#ptrs) this.lib.free(p);
    this.#ptrs = null;
  }
}

function checkLoss(pct: number): number {
  if (Number.isInteger(pct) && pct >= 0 && pct <= 100) return pct;
  throw opusError(`expected loss must be a whole 0–100 %, got ${pct}`, { reason: 'option' });
}

export interface OpusEncoderOptions {
  /** bit/s; default 24 000. */
  bitrate?: number;
  /** In-band FEC (LBRR): each packet also carries the previous frame at a lower rate. Default false. */
  fec?: boolean;
  /** Packet loss (0–100 %) the encoder plans for: how much FEC it spends. Default 0. */
  expectedLossPct?: number;
}

/** 20 ms frames of PCM (48 kHz mono s16) → Opus packets: VOIP, voice, at most wideband. */
export class OpusEncoder extends WasmCodec {
  constructor(opts: OpusEncoderOptions = {}) {
    const bitrate = opts.bitrate ?? 24_000;
    if (!Number.isInteger(bitrate) || bitrate < 6000 || bitrate > 510_000) throw opusError(`Opus bitrate must be 6000–510000 bit/s, got ${bitrate}`, { reason: 'option' });
    const loss = checkLoss(opts.expectedLossPct ?? 0);
    const ctls = { maxBandwidth: WIDEBAND, signal: VOICE, inbandFec: opts.fec ? 1 : 0, packetLossPerc: loss, bitrate } as const;
    super([libopus().opus_encoder_get_size(PCM.channels), OPUS_FRAME_SAMPLES * 2, MAX_PACKET], (op, [st]) => {
      check(op.opus_encoder_init(st!, PCM.sampleRate, PCM.channels, VOIP), 'opus_encoder_init', 'Opus encoder');
      for (const [name, value] of Object.entries(ctls)) check(op.opus_encoder_ctl_set(st!, SET[name as keyof typeof SET], value), 'opus_encoder_ctl', `Opus encoder ${name} ${value}`);
    });
  }

  /** Retunes FEC to the loss measured (0–100 %); takes effect from the next frame. */
  setExpectedLoss(pct: number): void {
    check(this.lib.opus_encoder_ctl_set(this.ptrs()[0]!, SET.packetLossPerc, checkLoss(pct)), 'opus_encoder_ctl', 'Opus encoder packet loss');
  }

  /** One frame (exactly OPUS_FRAME_SAMPLES samples) → one packet (a copy, not a view on wasm memory). */
  encode(pcm: Int16Array): Buffer {
    const [st, input, out] = this.ptrs() as [number, number, number];
    if (pcm.length !== OPUS_FRAME_SAMPLES) {
      throw opusError(`Opus encode takes exactly ${OPUS_FRAME_SAMPLES} samples (${OPUS_FRAME_MS} ms), got ${pcm.length}`, { reason: 'pcm-length', samples: pcm.length });
    }
    i16.set(pcm, input >> 1);
    const n = check(this.lib.opus_encode(st, input, OPUS_FRAME_SAMPLES, out, MAX_PACKET), 'opus_encode', 'Opus encode');
    return Buffer.from(u8.subarray(out, out + n));
  }
}

/** Opus packets → PCM (48 kHz mono s16), with PLC and FEC recovery of lost frames. */
export class OpusDecoder extends WasmCodec {
  constructor() {
    super([libopus().opus_decoder_get_size(PCM.channels), MAX_PACKET, MAX_DECODE * 2], (op, [st]) => {
      check(op.opus_decoder_init(st!, PCM.sampleRate, PCM.channels), 'opus_decoder_init', 'Opus decoder');
    });
  }

  /** libopus opus_decode into the output block; `packet` null = the frame is lost. A copy of the samples. */
  #decode(packet: Buffer | null, frameSize: number, fec: 0 | 1, what: string): Int16Array {
    const [st, data, out] = this.ptrs() as [number, number, number];
    if (packet && (packet.length === 0 || packet.length > MAX_PACKET)) {
      throw opusError(`${what}: a packet of ${packet.length} bytes is not an Opus packet (1–${MAX_PACKET})`, { reason: 'packet-size', bytes: packet.length });
    }
    if (packet) u8.set(packet, data);
    const n = check(this.lib.opus_decode(st, packet ? data : 0, packet?.length ?? 0, out, frameSize, fec), 'opus_decode', what);
    return i16.slice(out >> 1, (out >> 1) + n);
  }

  /** One packet → its samples (960 for a 20 ms packet; up to 120 ms). A malformed packet: LOA_E_OPUS. */
  decode(packet: Buffer): Int16Array {
    return this.#decode(packet, MAX_DECODE, 0, 'Opus decode');
  }

  /** A lost frame, concealed (PLC): exactly OPUS_FRAME_SAMPLES samples continuing what was heard, fading over repeats. */
  conceal(): Int16Array {
    return this.#decode(null, OPUS_FRAME_SAMPLES, 0, 'Opus conceal');
  }

  /** A lost frame rebuilt from the next packet's FEC (LBRR), or concealed if it has none: exactly OPUS_FRAME_SAMPLES samples. Then decode(nextPacket) as usual. */
  recover(nextPacket: Buffer): Int16Array {
    return this.#decode(nextPacket, OPUS_FRAME_SAMPLES, 1, 'Opus FEC recovery');
  }
}

/** Bytes of the shared libopus wasm memory (0 before first use): it only grows, so a leak shows here. */
export const opusMemoryBytes = (): number => (lib ? lib.memory.buffer.byteLength : 0);

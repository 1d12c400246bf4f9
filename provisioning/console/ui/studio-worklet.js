// The studio's microphone capture, on the browser's audio thread
// (AudioWorkletGlobalScope: `sampleRate`, `registerProcessor`). It turns the
// microphone's first channel into what /api/live takes — PCM s16le, mono,
// 48 kHz — in 20 ms frames (960 samples, one Opus frame at the console),
// each posted with its peak for the level meter. A context not running at
// 48 kHz (Firefox will not connect a microphone to a context of another
// rate) is resampled here by linear interpolation: enough for speech.

const RATE = 48000;
const FRAME = 960;

class LoaCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    /** Input samples per output sample. */
    this.step = sampleRate / RATE;
    /** Where the next output sample lies, in input samples from the current block's start (-1: the previous block's last). */
    this.pos = 0;
    this.last = 0;
    this.frame = new Int16Array(FRAME);
    this.n = 0;
    this.peak = 0;
  }

  push(s) {
    const v = s > 1 ? 1 : s < -1 ? -1 : s;
    const a = v < 0 ? -v : v;
    if (a > this.peak) this.peak = a;
    this.frame[this.n++] = Math.round(v * 32767);
    if (this.n === FRAME) {
      const pcm = this.frame.buffer;
      this.port.postMessage({ pcm, peak: this.peak }, [pcm]);
      this.frame = new Int16Array(FRAME);
      this.n = 0;
      this.peak = 0;
    }
  }

  process(inputs) {
    const x = inputs[0] && inputs[0][0];
    // No input connected (yet, or any more): nothing to send, but stay alive.
    if (!x || !x.length) return true;
    if (this.step === 1) {
      for (let i = 0; i < x.length; i++) this.push(x[i]);
      return true;
    }
    let t = this.pos;
    // Up to the last pair of this block; a point past it waits for the next block (i = -1 there).
    while (t < x.length - 1) {
      const i = Math.floor(t);
      const a = i < 0 ? this.last : x[i];
      const b = x[i + 1];
      this.push(a + (b - a) * (t - i));
      t += this.step;
    }
    this.pos = t - x.length;
    this.last = x[x.length - 1];
    return true;
  }
}

registerProcessor('loa-capture', LoaCapture);

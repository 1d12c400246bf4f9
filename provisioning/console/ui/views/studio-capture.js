// The studio's microphone: getUserMedia, then an AudioContext at 48 kHz
// whose AudioWorklet (/ui/studio-worklet.js) hands back 20 ms frames of
// Int16 PCM with their peak. Echo cancellation is off (nothing plays back
// into the room from this page, and it would eat a steady voice); noise
// suppression and gain control are on, for a phone or a laptop's built-in
// microphone held at any distance. Every failure becomes a MicError whose
// `kind` the page words for a person.

const CONSTRAINTS = { audio: { echoCancellation: false, noiseSuppression: true, autoGainControl: true } };
export const RATE = 48000;

export class MicError extends Error {
  /** kind: 'insecure' (no microphone outside https), 'denied', 'missing', 'busy', 'audio' (no Web Audio for it). */
  constructor(kind, cause) {
    super(cause?.message ?? kind);
    this.kind = kind;
    this.cause = cause;
  }
}

const kindOf = (name) =>
  name === 'NotAllowedError' || name === 'SecurityError' ? 'denied' : name === 'NotFoundError' || name === 'OverconstrainedError' ? 'missing' : name === 'NotReadableError' || name === 'AbortError' ? 'busy' : 'audio';

/**
 * Opens the microphone; `onFrame(pcm: Int16Array, peak: 0–1)` every 20 ms
 * until stop(). `onLost()` when the microphone goes away (unplugged, the
 * permission withdrawn).
 */
export async function openMic({ onFrame, onLost }) {
  // navigator.mediaDevices exists only in a secure context (https, or the console opened on localhost).
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) throw new MicError('insecure');
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia(CONSTRAINTS);
  } catch (e) {
    throw new MicError(kindOf(e?.name), e);
  }
  const stopTracks = () => stream.getTracks().forEach((tr) => tr.stop());
  let graph;
  try {
    // The browser resamples the microphone into a 48 kHz context; Firefox refuses to connect one of another rate, and then the worklet resamples.
    graph = await connect(stream, RATE, onFrame).catch(() => connect(stream, undefined, onFrame));
  } catch (e) {
    stopTracks();
    throw new MicError('audio', e);
  }
  const [track] = stream.getAudioTracks();
  let stopped = false;
  track?.addEventListener('ended', () => {
    if (!stopped) onLost?.();
  });
  return {
    label: track?.label ?? '',
    rate: graph.ac.sampleRate,
    stop() {
      if (stopped) return;
      stopped = true;
      graph.node.port.onmessage = null;
      stopTracks();
      graph.ac.close().catch(() => {});
    },
  };
}

async function connect(stream, rate, onFrame) {
  const ac = new AudioContext(rate ? { sampleRate: rate, latencyHint: 'interactive' } : { latencyHint: 'interactive' });
  try {
    await ac.audioWorklet.addModule('/ui/studio-worklet.js');
    const src = ac.createMediaStreamSource(stream);
    // One channel, explicitly: a stereo microphone is mixed down before the worklet.
    const node = new AudioWorkletNode(ac, 'loa-capture', { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: 'explicit' });
    node.port.onmessage = (e) => onFrame(new Int16Array(e.data.pcm), e.data.peak);
    // Pulled by the destination, silently: the presenter must not hear themselves a moment late.
    const mute = ac.createGain();
    mute.gain.value = 0;
    src.connect(node).connect(mute).connect(ac.destination);
    await ac.resume();
    return { ac, node };
  } catch (e) {
    ac.close().catch(() => {});
    throw e;
  }
}

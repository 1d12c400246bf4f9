// The studio's end of the console's WebSocket /api/live (docs/console.md,
// "Live"): the start message with the session's CSRF token, "on-air", then
// the microphone's PCM, "end", "ended"; a refusal is an "error" message and
// the close. The console paces the session by its own clock from the first
// audio and skips a frame whose audio is more than 100 ms late, so the first
// message holds PREROLL frames (what was said while they gathered) and the
// rest follow steadily, BATCH frames at a time.

const PREROLL = 8; // 160 ms
const BATCH = 2; // 40 ms
/** How long the console may take to say "on-air". */
const START_MS = 10_000;

/**
 * Opens a session. Callbacks: onAir({id, zones, startedAt}); onEnded({id,
 * framesSent, endReason, endedAt}); onError(code, message) for a refusal
 * ('CONNECT' when no socket could be opened or no answer came); onDropped()
 * when the connection went while on air without an answer.
 */
export function openLive({ zones, title, csrf, onAir, onEnded, onError, onDropped }) {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/live`);
  /** 'connecting' → 'waiting' (start sent) → 'on-air' → 'ending' → 'done'. */
  let state = 'connecting';
  let queue = [];
  let queued = 0;
  let primed = false;
  let framesQueued = 0;
  const finish = () => {
    state = 'done';
    clearTimeout(timer);
  };
  const timer = setTimeout(() => {
    if (state !== 'connecting' && state !== 'waiting') return;
    finish();
    ws.close();
    onError('CONNECT', 'no answer from the console');
  }, START_MS);

  ws.addEventListener('open', () => {
    state = 'waiting';
    ws.send(JSON.stringify({ type: 'start', csrf, zones, title, source: 'studio' }));
  });
  ws.addEventListener('message', (e) => {
    if (typeof e.data !== 'string') return;
    let m;
    try {
      m = JSON.parse(e.data);
    } catch {
      return;
    }
    if (m.type === 'on-air' && state === 'waiting') {
      state = 'on-air';
      clearTimeout(timer);
      onAir(m);
    } else if (m.type === 'ended') {
      finish();
      onEnded(m);
    } else if (m.type === 'error') {
      finish();
      onError(m.code, m.message);
    }
  });
  ws.addEventListener('close', () => {
    const was = state;
    finish();
    if (was === 'connecting' || was === 'waiting') onError('CONNECT', 'the connection closed before the console answered');
    else if (was === 'on-air' || was === 'ending') onDropped();
  });

  function flush() {
    const out = new Uint8Array(queued);
    let at = 0;
    for (const b of queue) {
      out.set(b, at);
      at += b.length;
    }
    queue = [];
    queued = 0;
    framesQueued = 0;
    ws.send(out.buffer);
  }

  return {
    /** A 20 ms frame (Int16Array) of the microphone; dropped unless on air. */
    send(pcm) {
      if (state !== 'on-air' || ws.readyState !== WebSocket.OPEN) return;
      const b = new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
      queue.push(b);
      queued += b.length;
      framesQueued++;
      if (framesQueued >= (primed ? BATCH : PREROLL)) {
        primed = true;
        flush();
      }
    },
    /** Ends the session: what was said goes out first, then "ended" comes. */
    end() {
      if (state !== 'on-air') return;
      if (queued && ws.readyState === WebSocket.OPEN) flush();
      state = 'ending';
      ws.send(JSON.stringify({ type: 'end' }));
    },
    /** Leaves at once (the page goes away): the console ends the session when the socket closes. */
    close() {
      finish();
      ws.close();
    },
    get state() {
      return state;
    },
  };
}

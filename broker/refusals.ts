import type { Logger } from '../lib/log.js';

// Every connection, subscription or publication the broker refuses, and every
// connection it ends, writes one log line with a `reason` (docs/operations.md,
// "Logs"). Most refusals are made in our own hooks and logged there; the rest
// are made inside aedes (limits, malformed packets, timeouts) and reach us
// only as the error of its 'clientError' / 'connectionError' events.
// `brokerEnding` names those.

/** Why aedes ended a connection, when the broker (not the network) ended it. */
export type EndingReason =
  | 'slow-consumer'
  | 'keepalive-timeout'
  | 'connect-timeout'
  | 'topic-too-deep'
  | 'invalid-topic'
  | 'queue-limit'
  | 'inflight-limit'
  | 'second-connect'
  | 'connect-refused'
  | 'protocol-error'
  | 'broker-error';

export interface Ending {
  reason: EndingReason;
  /** aedes' own words, for the log. */
  detail: string;
  returnCode?: number;
}

/** The log message for each ending; `reason` and `detail` say the rest. */
export const ENDING_MESSAGE: Record<EndingReason, string> = {
  'slow-consumer': 'slow consumer disconnected: it stopped reading its socket',
  'keepalive-timeout': 'client disconnected: silent for 1.5 times its keepalive (MQTT-3.1.2-24)',
  'connect-timeout': 'connection closed: no CONNECT in time',
  'topic-too-deep': 'client disconnected: topic has too many levels',
  'invalid-topic': 'client disconnected: invalid topic',
  'queue-limit': 'client disconnected: too many packets sent before its CONNECT was answered',
  'inflight-limit': 'client disconnected: too many QoS 2 messages awaiting PUBREL',
  'second-connect': 'client disconnected: a second CONNECT (MQTT-3.1.0-2)',
  'connect-refused': 'connection refused',
  'protocol-error': 'connection closed: malformed MQTT',
  'broker-error': 'client disconnected: broker error',
};

type AedesError = Error & { code?: unknown; errorCode?: unknown };

const BY_MESSAGE: [RegExp, EndingReason][] = [
  [/^drain timeout$/, 'slow-consumer'],
  [/^keep alive timeout$/, 'keepalive-timeout'],
  [/^connect did not arrive in time$/, 'connect-timeout'],
  [/^topic has too many levels$/, 'topic-too-deep'],
  // lib/handlers/publish.js and lib/utils.js validateTopic
  [/not allowed in PUBLISH$|^impossible to \w+ to an empty topic$|is only allowed in \w+ /, 'invalid-topic'],
  [/^Client queue limit reached$/, 'queue-limit'],
  [/^maxInflightInbound exceeded/, 'inflight-limit'],
  // A CONNECT on a connection already connected (MQTT-3.1.0-2).
  [/^Invalid protocol$/, 'second-connect'],
];

/**
 * What ended a connection, from the error aedes reports; null when the
 * network did (the peer reset or closed the socket), which is no refusal.
 */
export function brokerEnding(err: AedesError): Ending | null {
  const detail = err.message;
  if (typeof err.errorCode === 'number' && err.errorCode > 0) return { reason: 'connect-refused', detail, returnCode: err.errorCode };
  for (const [re, reason] of BY_MESSAGE) if (re.test(detail)) return { reason, detail };
  if (typeof err.code === 'string') {
    // ECONNRESET, EPIPE, ETIMEDOUT, ERR_STREAM_PREMATURE_CLOSE…: the peer or the network.
    if (err.code.startsWith('E')) return null;
    return { reason: 'broker-error', detail: `${err.code}: ${detail}` };
  }
  // Written to, or finished on, a socket already gone.
  if (detail === 'connection closed' || detail === 'Premature close') return null;
  // What is left comes from mqtt-packet's parser: bytes that are not MQTT.
  return { reason: 'protocol-error', detail };
}

/** Logs at most `limit` lines per window and then a count, so a flood cannot flood the log. */
export class ThrottledLog {
  #count = 0;
  #suppressed = 0;
  #windowStart = 0;
  constructor(
    private readonly log: Logger,
    private readonly limit = 20,
    private readonly windowMs = 10_000,
  ) {}
  warn(now: number, fields: object, msg: string): void {
    if (now - this.#windowStart > this.windowMs) {
      if (this.#suppressed) this.log.warn({ suppressed: this.#suppressed }, 'further refusals not logged in the last window');
      this.#windowStart = now;
      this.#count = 0;
      this.#suppressed = 0;
    }
    if (++this.#count <= this.limit) this.log.warn(fields, msg);
    else this.#suppressed++;
  }
}

import type { Logger } from '../lib/log.js';
import { LoaError, isLoaError, reasonOf } from '../protocol/errors.js';
import { decodeChunkFrame, decodePayload } from '../protocol/codec.js';
import { LogAck } from '../protocol/payloads.js';
import { parseTopic, type ParsedTopic } from '../protocol/topics.js';

// Which desk of the agent each incoming message goes to. The router parses
// the topic (and the frames that are not signed envelopes); the desks parse
// and judge their payloads. Bad input from the network is logged and dropped
// here: it never stops the agent (STYLE.md, "Config and errors").

export type ChunkFrame = ReturnType<typeof decodeChunkFrame>;

/** The agent's handlers, one per kind of message it acts on. */
export interface MessageDesks {
  /** A signed target state for this device (retained). */
  target(payload: Buffer): void;
  /** A chunk of an asset the sync asked for. */
  chunk(frame: ChunkFrame): void;
  /** The province stored these outbox records. */
  logAck(ack: LogAck): void;
  /** An emergency start or cancel, for the device's zones or the device itself. */
  emergency(payload: Buffer): void;
  /** A time beacon, broadcast or answering this device's request. */
  time(payload: Buffer): void;
  /** A live relay start or stop for a zone. */
  live(payload: Buffer): void;
}

/** The desk for a parsed topic, or null for one the agent subscribes to but does not act on. */
function deskFor(t: ParsedTopic, payload: Buffer, d: MessageDesks): (() => void) | null {
  switch (t.kind) {
    case 'device':
      if (t.sub === 'target') return () => d.target(payload);
      if (t.sub === 'chunk/res') return () => d.chunk(decodeChunkFrame(payload));
      if (t.sub === 'log/ack') return () => d.logAck(decodePayload('log/ack', LogAck, payload));
      if (t.sub === 'clock') return () => d.time(payload);
      return null;
    case 'zone-emergency':
    case 'device-emergency':
      return () => d.emergency(payload);
    case 'time':
      return () => d.time(payload);
    case 'zone-live':
      return () => d.live(payload);
    default:
      return null;
  }
}

export function routeMessage(topic: string, payload: Buffer, desks: MessageDesks, log: Logger): void {
  try {
    const t = parseTopic(topic);
    if (!t) throw new LoaError('LOA_E_TOPIC_UNKNOWN', `message on unexpected topic ${topic}`);
    const handle = deskFor(t, payload, desks);
    if (!handle) return log.debug({ topic }, 'message on a topic the agent does not act on');
    handle();
  } catch (e) {
    log.warn({ topic, err: isLoaError(e) ? e.toJSON() : reasonOf(e) }, 'message rejected');
  }
}

import { Duplex } from 'node:stream';

// aedes hands the raw stream to mqtt-packet, which buffers a whole packet
// before parsing it: a client announcing a 200 MB PUBLISH would make the
// broker hold 200 MB. This guard reads only MQTT fixed headers (type byte and
// the Remaining Length varint, MQTT-2.2.3) as bytes pass through, keeps O(1)
// state, and reports a violation the moment a header announces a packet
// larger than allowed — before its payload arrives. It also refuses a first
// packet that is not CONNECT (MQTT-3.1.0-1), which ends random-byte and
// wrong-protocol connections at their first byte.

export type GuardViolation = { kind: 'packet-too-large'; size: number; max: number } | { kind: 'malformed-length' } | { kind: 'not-connect'; firstByte: number };

export class PacketSizeGuard {
  readonly max: number;
  #state: 'type' | 'length' | 'body' = 'type';
  #length = 0;
  #multiplier = 1;
  #lengthBytes = 0;
  #remaining = 0;
  #first = true;

  constructor(maxPacketBytes: number) {
    this.max = maxPacketBytes;
  }

  /** Inspects the next bytes of the stream; returns the first violation found, or null. */
  feed(chunk: Buffer): GuardViolation | null {
    let i = 0;
    while (i < chunk.length) {
      switch (this.#state) {
        case 'type': {
          const b = chunk[i++]!;
          if (this.#first && b >> 4 !== 1) return { kind: 'not-connect', firstByte: b };
          this.#first = false;
          this.#state = 'length';
          this.#length = 0;
          this.#multiplier = 1;
          this.#lengthBytes = 0;
          break;
        }
        case 'length': {
          const b = chunk[i++]!;
          this.#length += (b & 0x7f) * this.#multiplier;
          this.#multiplier *= 128;
          this.#lengthBytes++;
          if (b & 0x80) {
            if (this.#lengthBytes >= 4) return { kind: 'malformed-length' };
            break;
          }
          const total = 1 + this.#lengthBytes + this.#length;
          if (total > this.max) return { kind: 'packet-too-large', size: total, max: this.max };
          this.#remaining = this.#length;
          this.#state = this.#remaining === 0 ? 'type' : 'body';
          break;
        }
        case 'body': {
          const take = Math.min(this.#remaining, chunk.length - i);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = 'type';
          break;
        }
      }
    }
    return null;
  }
}

/** The subset of a socket the guard needs; net, tls and ws streams all fit. */
export interface RawConnection extends NodeJS.EventEmitter {
  write(chunk: Buffer, cb?: (err?: Error | null) => void): boolean;
  end(): unknown;
  destroy(err?: Error): unknown;
  pause(): unknown;
  resume(): unknown;
  destroyed?: boolean;
}

/**
 * Wraps a raw connection in a Duplex that aedes reads from and writes to.
 * Inbound bytes pass through the guard; on a violation the connection is
 * destroyed at once and `onViolation` is told why. Backpressure is kept in
 * both directions (a slow consumer still trips aedes' drainTimeout).
 */
export function guardConnection(raw: RawConnection, maxPacketBytes: number, onViolation: (v: GuardViolation) => void): Duplex {
  const guard = new PacketSizeGuard(maxPacketBytes);
  let violated = false;
  const duplex = new Duplex({
    allowHalfOpen: false,
    read() {
      raw.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      if (raw.destroyed) return cb(new Error('connection closed'));
      if (raw.write(chunk)) cb();
      else raw.once('drain', () => cb());
    },
    // mqtt-packet corks the stream around each packet (header, topic, payload):
    // hand the pieces to the socket together so they leave in one syscall.
    writev(chunks: { chunk: Buffer }[], cb) {
      if (raw.destroyed) return cb(new Error('connection closed'));
      const s = raw as RawConnection & { cork?: () => void; uncork?: () => void };
      s.cork?.();
      let ok = true;
      for (const c of chunks) ok = raw.write(c.chunk);
      s.uncork?.();
      if (ok) cb();
      else raw.once('drain', () => cb());
    },
    final(cb) {
      raw.end();
      cb();
    },
    destroy(err, cb) {
      raw.destroy();
      cb(err);
    },
  });
  raw.on('data', (chunk: Buffer) => {
    if (violated) return;
    const v = guard.feed(chunk);
    if (v) {
      violated = true;
      onViolation(v);
      raw.destroy();
      duplex.destroy();
      return;
    }
    if (!duplex.push(chunk)) raw.pause();
  });
  raw.on('end', () => duplex.push(null));
  raw.on('close', () => duplex.destroy());
  raw.on('error', (err: Error) => duplex.destroy(err));
  return duplex;
}

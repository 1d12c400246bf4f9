import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';

// A TCP proxy between a client and the broker on loopback, to cut links,
// slow them down and damage bytes in flight, the way a 3G link does. The
// link a fault test drives: pass, delay, drop silently (TCP hangs: nothing
// arrives and nothing says so), refuse new connections, reset.

export interface Proxy {
  port: number;
  url: string;
  /** Closes every connection now (both ends see a reset). */
  cut(): void;
  /** Stops accepting; existing connections stay until cut. */
  close(): Promise<void>;
  /** Limits broker→client throughput (bytes per second), 0 for none. */
  throttle(bytesPerSec: number): void;
  /** Flips one byte, `after` bytes past the next occurrence of `marker` in the broker→client stream. */
  corruptAfter(marker: string, after: number): void;
  /** Holds every byte both ways while on, keeping the connections open (a radio link that went silent); passes them on when off. */
  blackhole(on: boolean): void;
  /** Holds every chunk this long before passing it on, both ways. */
  delay(ms: number): void;
  /** While on, new connections are closed at once (no route); existing ones are cut. */
  refuse(on: boolean): void;
  bytesDown: number;
  connections: number;
}

export async function startProxy(targetPort: number): Promise<Proxy> {
  const pairs = new Set<[Socket, Socket]>();
  let rate = 0;
  let holeOn = false;
  let refusing = false;
  let delayMs = 0;
  let corrupt: { marker: Buffer; after: number; armed: boolean; seen: number } | null = null;
  const holds = new Set<() => void>();
  const state = { bytesDown: 0, connections: 0 };
  const server: Server = createServer((client) => {
    if (refusing) return void client.destroy();
    state.connections++;
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      holds.delete(flush);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    // A silent link holds bytes back (TCP retransmits them once the link is back), it does not lose them.
    const held: { up: Buffer[]; down: Buffer[] } = { up: [], down: [] };
    const flush = () => {
      for (const c of held.up.splice(0)) if (!upstream.destroyed) upstream.write(c);
      for (const c of held.down.splice(0)) if (!client.destroyed) client.write(c);
    };
    holds.add(flush);
    client.on('data', (chunk: Buffer) => {
      if (holeOn) return void held.up.push(chunk);
      if (delayMs > 0) return void setTimeout(() => !upstream.destroyed && upstream.write(chunk), delayMs);
      upstream.write(chunk);
    });
    let tail = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      if (holeOn) return void held.down.push(chunk);
      if (delayMs > 0) {
        setTimeout(() => {
          if (!client.destroyed) client.write(chunk);
        }, delayMs);
        return;
      }
      let out = chunk;
      if (corrupt) {
        const c = corrupt;
        if (!c.armed) {
          const hay = Buffer.concat([tail, chunk]);
          const i = hay.indexOf(c.marker);
          if (i >= 0) {
            c.armed = true;
            c.seen = hay.length - i - c.marker.length;
          }
          tail = hay.subarray(Math.max(0, hay.length - c.marker.length));
        } else c.seen += chunk.length;
        if (c.armed && c.seen >= c.after) {
          const pos = chunk.length - (c.seen - c.after) - 1;
          if (pos >= 0 && pos < chunk.length) {
            out = Buffer.from(chunk);
            out[pos] = out[pos]! ^ 0xff;
            corrupt = null;
          }
        }
      }
      state.bytesDown += out.length;
      if (!client.write(out)) upstream.pause();
      if (rate > 0) {
        upstream.pause();
        setTimeout(() => upstream.resume(), Math.ceil((out.length / rate) * 1000));
      }
    });
    client.on('drain', () => upstream.resume());
  });
  const cutAll = () => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    cut: cutAll,
    close: () => new Promise<void>((r) => server.close(() => r())),
    throttle: (bps) => (rate = bps),
    blackhole: (on) => {
      holeOn = on;
      if (!on) for (const flush of holds) flush();
    },
    delay: (ms) => (delayMs = ms),
    refuse: (on) => {
      refusing = on;
      if (on) cutAll();
    },
    corruptAfter: (marker, after) => (corrupt = { marker: Buffer.from(marker), after, armed: false, seen: 0 }),
    get bytesDown() {
      return state.bytesDown;
    },
    get connections() {
      return state.connections;
    },
  };
}

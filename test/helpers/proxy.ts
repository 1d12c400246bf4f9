import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';

// A TCP proxy between a client and the broker on loopback, to cut links,
// slow them down and damage bytes in flight, the way a 3G link does.

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
  bytesDown: number;
  connections: number;
}

export async function startProxy(targetPort: number): Promise<Proxy> {
  const pairs = new Set<[Socket, Socket]>();
  let rate = 0;
  let corrupt: { marker: Buffer; after: number; armed: boolean; seen: number } | null = null;
  const state = { bytesDown: 0, connections: 0 };
  const server: Server = createServer((client) => {
    state.connections++;
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    let tail = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
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
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    cut: () => {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
    throttle: (bps) => (rate = bps),
    corruptAfter: (marker, after) => (corrupt = { marker: Buffer.from(marker), after, armed: false, seen: 0 }),
    get bytesDown() {
      return state.bytesDown;
    },
    get connections() {
      return state.connections;
    },
  };
}

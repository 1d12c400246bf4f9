import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/**
 * Connects a real mqtt.js client and resolves once CONNACK arrives; rejects
 * with the CONNACK error (err.code holds the return code) or a socket error.
 * Reconnection is off unless asked for, so a refusal is observed once.
 */
export function connect(url: string, opts: IClientOptions = {}, onMessage?: (topic: string, payload: Buffer) => void): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...opts });
    // Messages of a resumed session can arrive in the same read as CONNACK: listen from the start.
    if (onMessage) c.on('message', onMessage);
    const fail = (e: Error) => {
      c.removeAllListeners();
      c.on('error', () => {});
      c.end(true);
      reject(e);
    };
    const closedEarly = () => fail(new Error('closed before CONNACK'));
    c.once('connect', () => {
      c.removeListener('error', fail);
      // Once connected, a close is the reconnecting client's business: left here, it ended a client asked to reconnect (reconnectPeriod) at the first broker restart.
      c.removeListener('close', closedEarly);
      c.on('error', () => {});
      resolve(c);
    });
    c.once('error', fail);
    c.once('close', closedEarly);
  });
}

export function asDevice(url: string, id: string, secret: string, opts: IClientOptions = {}, onMessage?: (topic: string, payload: Buffer) => void): Promise<MqttClient> {
  return connect(url, { clientId: id, username: id, password: secret, ...opts }, onMessage);
}

/**
 * Subscribes and returns the granted QoS per filter (128 = refused). mqtt.js
 * fails a whole SUBSCRIBE when any filter is refused, so each filter goes in
 * its own SUBSCRIBE here.
 */
export async function subscribe(c: MqttClient, filters: string[], qos: 0 | 1 = 1): Promise<number[]> {
  return Promise.all(
    filters.map(
      (topic) =>
        new Promise<number>((resolve, reject) =>
          c.subscribe(topic, { qos }, (err, granted) => {
            const refused = (err as { packet?: { granted?: number[] } } | null)?.packet?.granted?.[0];
            if (err && refused !== undefined && refused >= 0x80) return resolve(refused);
            if (err) return reject(err);
            resolve(granted![0]!.qos);
          }),
        ),
    ),
  );
}

/** Resolves with the next message on a topic, or rejects after a timeout. */
export function nextMessage(c: MqttClient, topic: string, timeoutMs = 3000): Promise<{ payload: Buffer; retain: boolean }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      c.removeListener('message', on);
      reject(new Error(`no message on ${topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (tp: string, payload: Buffer, packet: { retain: boolean }) => {
      if (tp !== topic) return;
      clearTimeout(t);
      c.removeListener('message', on);
      resolve({ payload, retain: packet.retain });
    };
    c.on('message', on);
  });
}

/** Resolves true when the client is closed by the other side within the time. */
export function closedWithin(c: MqttClient, ms: number): Promise<boolean> {
  if (!c.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    c.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export async function endAll(...cs: (MqttClient | undefined)[]): Promise<void> {
  await Promise.all(cs.filter(Boolean).map((c) => c!.endAsync(true).catch(() => {})));
}

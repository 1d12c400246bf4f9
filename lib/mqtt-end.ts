import type { MqttClient } from 'mqtt';

/**
 * Ends an mqtt.js client without hanging: a graceful end waits for DISCONNECT
 * to be written, which never happens while the client is between reconnect
 * attempts, so it is forced then, and in any case after `timeoutMs`.
 */
export async function endClient(c: MqttClient, timeoutMs = 3000): Promise<void> {
  const force = !c.connected;
  await Promise.race([new Promise<void>((resolve) => c.end(force, {}, () => resolve())), new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]);
  if (!c.disconnected) c.end(true);
}

import { z } from 'zod';
import { Slug, ZonePath } from './ids.js';
import { Instant } from './payloads.js';

// The device bundle: everything a cluster needs to join its province, written
// by `loa provision device add|rotate` and read by `loa device --config`.
// It holds the device's broker secret in clear, so it is written 0600 and
// carried to the device like a key.

export const BUNDLE_FORMAT = 'loa-device-bundle/1';

const Pem = z.string().regex(/^-----BEGIN [A-Z ]+-----\n[\s\S]+\n-----END [A-Z ]+-----\n?$/, 'must be a PEM block');
const BrokerUrl = z.url({ protocol: /^(mqtt|mqtts|ws|wss)$/ });

export const DeviceBundle = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  issuedAt: Instant,
  device: z.strictObject({ id: Slug, zone: ZonePath }),
  broker: z.strictObject({
    /** Tried in order; more than one for a province with a standby broker. */
    urls: z.array(BrokerUrl).min(1).max(8),
    username: Slug,
    password: z.string().min(16).max(200),
    /** CA certificate that signed the broker's TLS certificate, when mqtts:// is used. */
    ca: Pem.nullable(),
  }),
  keys: z.strictObject({
    /** Console signing keys trusted for target states, time beacons and live control. */
    console: z.array(Pem).min(1).max(4),
    /** Dispatch signing keys trusted for emergency commands. */
    dispatch: z.array(Pem).min(1).max(4),
  }),
  panel: z.strictObject({ passwordHash: z.string().startsWith('scrypt$') }),
});
export type DeviceBundle = z.infer<typeof DeviceBundle>;

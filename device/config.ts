import { z } from 'zod';
import { DeviceBundle } from '../protocol/bundle.js';
import { CHUNK_SIZE_MAX, CHUNK_SIZE_MIN } from '../protocol/payloads.js';

// The agent's configuration: the bundle `loa provision device add` wrote,
// plus where its state lives and how it behaves. Defaults → the bundle file
// (which may carry an "agent" section) → LOA_* environment → flags.

const MiB = 1024 * 1024;

export const AgentSettings = z.strictObject({
  /** Heartbeat period; telemetry is also sent at once when something a province operator watches changes. */
  heartbeatSec: z.int().min(5).max(3600).default(60),
  /** MQTT keepalive: long enough not to wake a 3G radio needlessly, short enough to notice a dead link. */
  keepaliveSec: z.int().min(10).max(1200).default(120),
  connectTimeoutMs: z.int().min(1000).max(120_000).default(30_000),
  backoff: z.strictObject({ minMs: z.int().min(100).default(1000), maxMs: z.int().min(1000).default(300_000) }).prefault({}),
  chunkSize: z.int().min(CHUNK_SIZE_MIN).max(CHUNK_SIZE_MAX).default(CHUNK_SIZE_MAX),
  /** Chunk requests in flight per transfer. */
  window: z.int().min(1).max(32).default(6),
  /** A chunk request unanswered this long while connected is sent again. */
  responseTimeoutMs: z.int().min(500).default(20_000),
  /** Chunks between fsync + progress record of a download (16 × 64 KiB = 1 MiB lost at most on a crash). */
  syncEvery: z.int().min(1).max(256).default(16),
  /** After the link comes back, wait this long before asking again for chunks lost with it, so the province's services can reconnect too. */
  resumeDelayMs: z.int().min(0).max(60_000).default(2000),
  /** Wait before retrying an asset the province could not serve, or that arrived corrupt. */
  retryMs: z.int().min(100).default(60_000),
  diskBudgetBytes: z.int().min(1 * MiB).default(4096 * MiB),
  /** Part of the budget kept for emergency clips. */
  emergencyReserveBytes: z.int().min(0).default(128 * MiB),
  /** Free space never used by assets, for the OS and logs. */
  minFreeBytes: z.int().min(0).default(256 * MiB),
  /** Headroom the store keeps in a reserve file and releases when the disk is full, so it can still record (docs/reliability.md). */
  storeReserveBytes: z.int().min(0).max(1024 * MiB).default(16 * MiB),
  outboxMax: z.int().min(100).max(1_000_000).default(50_000),
  logBatch: z.int().min(1).max(200).default(100),
  logAckTimeoutMs: z.int().min(500).default(15_000),
  audio: z
    .strictObject({
      /** alsa: the sound card through `speaker` in a supervised child; wav: a WAV file paced in real time; null: nothing. */
      output: z.enum(['alsa', 'wav', 'null']).default('alsa'),
      /** ALSA PCM name; it must be shareable (default, dmix, PipeWire) for the warm standby child. */
      device: z.string().min(1).default('default'),
      /** For output 'wav': the file (default <data>/output.wav). */
      wavFile: z.string().min(1).optional(),
    })
    .prefault({}),
  relay: z
    .strictObject({
      driver: z.enum(['auto', 'sysfs', 'gpioset', 'noop']).default('auto'),
      /** BCM number of the pin driving the amplifier relay; null: no relay (a logged no-op). */
      pin: z.int().min(0).max(57).nullable().default(null),
      activeLow: z.boolean().default(false),
      gpioChip: z.string().min(1).default('gpiochip0'),
      gpiosetPath: z.string().min(1).default('gpioset'),
      warmUpMs: z.int().min(0).max(30_000).default(1500),
      idleOffMs: z.int().min(0).default(30_000),
      maxOnMs: z.int().min(60_000).default(4 * 3600_000),
      cooldownMs: z.int().min(0).default(10 * 60_000),
    })
    .prefault({}),
  clock: z
    .strictObject({
      /** The board has a battery-backed RTC the technician vouches for. */
      rtc: z.boolean().default(false),
      /** The file whose presence says NTP has synchronised (systemd-timesyncd's); null: never believe NTP, only the province's beacon. */
      ntpFlag: z.string().min(1).nullable().default('/run/systemd/timesync/synchronized'),
      /** How long a time beacon keeps the clock trusted without NTP. */
      beaconTrustMs: z.int().min(60_000).default(6 * 3600_000),
      /** An answer to a time request slower than this (round trip) is too uncertain to set the clock by. */
      maxAnswerMs: z.int().min(50).max(120_000).default(30_000),
      /** A beacon further than this from the system clock moves the agent's clock to it. */
      correctAboveMs: z.int().min(100).default(2000),
    })
    .prefault({}),
  emergency: z
    .strictObject({
      /** How far ahead of this device's clock an emergency's issued-at may be. */
      skewMs: z.int().min(0).default(120_000),
      /** How long a command that arrives before the clock is trusted waits for the province's time before it is judged without it. */
      holdMs: z.int().min(0).max(120_000).default(10_000),
      /** At most this many emergency starts per `perMs` (a flood of valid commands is refused). */
      maxStarts: z.int().min(1).default(6),
      perMs: z.int().min(1000).default(10 * 60_000),
    })
    .prefault({}),
  /** Live sessions (device/live-desk.ts, docs/live.md). */
  live: z
    .strictObject({
      lossTimeoutMs: z.int().min(500).max(120_000).default(5000),
      silenceMs: z.int().min(5000).max(3600_000).default(120_000),
      jitterMs: z.int().min(40).max(10_000).default(400),
      ceilingMs: z.int().min(200).max(60_000).default(5000),
      leadMs: z.int().min(0).max(1000).default(60),
      /** The output's delay from a written sample to the horn: 0 for a WAV file, the card's buffer for ALSA (measure it: docs/live.md). */
      outputLatencyMs: z.int().min(0).max(2000).default(0),
    })
    .prefault({}),
  panel: z
    .strictObject({
      enabled: z.boolean().default(true),
      port: z.int().min(0).max(65535).default(8080),
      /** Addresses, interface names or 'lan' (loopback and private addresses of non-modem interfaces); never the WAN (docs/panel.md). */
      bind: z.array(z.string().min(1).max(64)).min(1).max(8).default(['lan']),
      sessionIdleMs: z.int().min(60_000).default(30 * 60_000),
      sessionMaxMs: z.int().min(60_000).default(8 * 3600_000),
      /** Largest local announcement upload, bytes, and its longest duration. */
      maxUploadBytes: z.int().min(64 * 1024).max(200 * MiB).default(10 * MiB),
      maxAnnouncementMs: z.int().min(5000).max(3600_000).default(10 * 60_000),
    })
    .prefault({}),
  schedule: z
    .strictObject({
      /** An item due this long ago is still started (a late boot, a small clock step); older ones are not caught up. */
      graceMs: z.int().min(0).max(3600_000).default(5 * 60_000),
    })
    .prefault({}),
});
export type AgentSettings = z.output<typeof AgentSettings>;

export const DeviceConfig = z.strictObject({
  ...DeviceBundle.shape,
  data: z.string().min(1),
  agent: AgentSettings.prefault({}),
});
export type DeviceConfig = z.output<typeof DeviceConfig>;

export const DEVICE_ENV = {
  LOA_DATA: { path: 'data', kind: 'string' },
  LOA_DEVICE_HEARTBEAT_SEC: { path: 'agent.heartbeatSec', kind: 'int' },
  LOA_DEVICE_KEEPALIVE_SEC: { path: 'agent.keepaliveSec', kind: 'int' },
  LOA_DEVICE_DISK_BUDGET: { path: 'agent.diskBudgetBytes', kind: 'int' },
  LOA_DEVICE_CHUNK_SIZE: { path: 'agent.chunkSize', kind: 'int' },
  LOA_DEVICE_WINDOW: { path: 'agent.window', kind: 'int' },
  LOA_DEVICE_AUDIO_OUTPUT: { path: 'agent.audio.output', kind: 'string' },
  LOA_DEVICE_ALSA_DEVICE: { path: 'agent.audio.device', kind: 'string' },
  LOA_DEVICE_RELAY_PIN: { path: 'agent.relay.pin', kind: 'int' },
  LOA_DEVICE_RELAY_ACTIVE_LOW: { path: 'agent.relay.activeLow', kind: 'bool' },
  LOA_DEVICE_PANEL_PORT: { path: 'agent.panel.port', kind: 'int' },
} as const;

// Coded errors. Every error Loa reports on purpose carries a stable code from
// this catalogue, a human message, optional structured context and a cause.
// The catalogue is documented in docs/errors.md; a test keeps the two in step.

export const ERROR_CODES = {
  // protocol
  LOA_E_PAYLOAD_JSON: 'payload is not valid JSON',
  LOA_E_PAYLOAD_SCHEMA: 'payload does not match its schema',
  LOA_E_PAYLOAD_TOO_LARGE: 'payload exceeds the size allowed for its topic',
  LOA_E_TOPIC_UNKNOWN: 'topic is not part of the loa/v1 contract',
  LOA_E_CANONICAL: 'value cannot be serialised canonically',
  LOA_E_SIGNATURE: 'signature does not verify against the expected key',
  LOA_E_KEY_UNKNOWN: 'payload is signed by a key this side does not trust',
  LOA_E_KEY_INVALID: 'key material is malformed',
  LOA_E_CHUNK_FRAME: 'asset chunk frame is malformed',
  LOA_E_LIVE_FRAME: 'live audio frame batch is malformed',
  LOA_E_LIVE_REFUSED: 'live session refused: no zone, nested zones, or not allowed',
  // device sync and transfer
  LOA_E_TARGET_REJECTED: 'target state refused: bad signature, schema or addressee',
  LOA_E_TARGET_STALE: 'target state is not newer than the one in force',
  LOA_E_ASSET_UNKNOWN: 'the province has no asset with that sha256',
  LOA_E_ASSET_UNAVAILABLE: 'the province cannot serve the asset',
  LOA_E_ASSET_CORRUPT: 'asset bytes do not match their sha256',
  LOA_E_TRANSFER_ABORTED: 'transfer stopped before it finished',
  LOA_E_DISK_BUDGET: 'not enough disk budget or free space for the assets',
  LOA_E_LINK_DOWN: 'not connected to the broker',
  LOA_E_SUBSCRIBE_REFUSED: 'the broker refused a subscription the device needs',
  LOA_E_AUDIO_INVALID: 'audio file cannot be used',
  LOA_E_TTS_FAILED: 'text-to-speech failed: no text, or the engine did not give usable speech',
  LOA_E_TARGET_INVALID: 'target specification is invalid',
  LOA_E_SCHEDULE_INVALID: 'schedule or rule profile cannot be used',
  // emergencies on the device
  LOA_E_EMERGENCY_EXPIRED: 'emergency command has expired',
  LOA_E_EMERGENCY_FUTURE: 'emergency command is issued in the future beyond the allowed clock skew',
  LOA_E_EMERGENCY_REPLAYED: 'emergency command id was seen before',
  LOA_E_EMERGENCY_SCOPE: 'emergency command is not addressed to this device',
  LOA_E_EMERGENCY_RATE: 'too many emergency commands in a short time',
  LOA_E_EMERGENCY_INVALID: 'emergency command is inconsistent',
  LOA_E_BEACON_REJECTED: 'time beacon refused',
  // the device's own store and data directory
  LOA_E_STORE_FULL: 'the device store cannot write: the disk is full',
  LOA_E_STORE_CORRUPT: 'the device store is damaged; it is set aside and rebuilt',
  LOA_E_DATA_LOCKED: 'another agent is using this data directory',
  LOA_E_AUDIO_OUTPUT: 'the audio output failed',
  LOA_E_OPUS: 'live Opus audio cannot be encoded or decoded: a malformed packet, a wrong frame, or a closed codec',
  LOA_E_RELAY: 'the amplifier relay cannot be switched',
  // console
  LOA_E_UNAUTHENTICATED: 'not logged in, or the session has expired',
  LOA_E_FORBIDDEN: 'the account may not do this, or not in this zone',
  LOA_E_CSRF: 'the request lacks the session\'s anti-forgery token',
  LOA_E_LOGIN_THROTTLED: 'too many failed logins; wait before trying again',
  LOA_E_NOT_FOUND: 'no such thing',
  LOA_E_CAP_INVALID: 'CAP alert refused',
  LOA_E_NOTHING_PLAYING: 'nothing is playing',
  LOA_E_REASON_REQUIRED: 'this action needs a reason, reported to the province',
  LOA_E_ANNOUNCE_REFUSED: 'the local announcement is refused by the rules in force',
  LOA_E_INTERNAL: 'internal error (logged at the province)',
  // console: uploads and jobs
  LOA_E_INGEST_INTERRUPTED: 'an ingest (upload or TTS bulletin) stopped before it finished: the console restarted or ffmpeg was killed; the file is not at fault, send it again',
  // identifiers
  LOA_E_ID_INVALID: 'identifier is not allowed',
  LOA_E_ZONE_PATH_INVALID: 'zone path is not allowed',
  // registry and provisioning
  LOA_E_REGISTRY_MISSING: 'no registry in the data directory',
  LOA_E_REGISTRY_EXISTS: 'a registry already exists in the data directory',
  LOA_E_REGISTRY_VERSION: 'registry schema is newer than this program',
  LOA_E_ZONE_EXISTS: 'zone already exists',
  LOA_E_ZONE_PARENT_MISSING: 'parent zone does not exist',
  LOA_E_ZONE_NOT_FOUND: 'zone does not exist',
  LOA_E_ZONE_NOT_LEAF: 'devices belong to leaf zones only',
  LOA_E_ZONE_NAME_INVALID: 'zone name is not allowed',
  LOA_E_DEVICE_EXISTS: 'device id already exists',
  LOA_E_DEVICE_NOT_FOUND: 'device does not exist',
  LOA_E_DEVICE_REVOKED: 'device is revoked',
  LOA_E_USER_EXISTS: 'user already exists',
  LOA_E_USER_NOT_FOUND: 'user does not exist',
  LOA_E_ROLE_INVALID: 'role is not one of the known roles',
  LOA_E_NAME_TAKEN: 'name is already used by a device or a user',
  LOA_E_KEYS_MISSING: 'province signing keys are missing',
  LOA_E_FILE_EXISTS: 'output file already exists',
  // configuration and CLI
  LOA_E_CONFIG_INVALID: 'configuration is invalid',
  LOA_E_USAGE: 'command line is invalid',
  LOA_E_TLS_CONFIG: 'TLS certificate or key cannot be loaded',
  LOA_E_LISTEN: 'cannot listen on the requested address',
  LOA_E_DATA_DIR: 'data directory cannot be used',
  LOA_E_REDIS: 'cannot reach Redis',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class LoaError extends Error {
  readonly code: ErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message?: string, opts: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message ?? ERROR_CODES[code], opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'LoaError';
    this.code = code;
    this.context = Object.freeze({ ...(opts.context ?? {}) });
  }

  toJSON(): { code: ErrorCode; message: string; context: Record<string, unknown> } {
    return { code: this.code, message: this.message, context: { ...this.context } };
  }
}

export function isLoaError(e: unknown, code?: ErrorCode): e is LoaError {
  return e instanceof LoaError && (code === undefined || e.code === code);
}

/** A one-line reason for any thrown value, for logs and CLI output. */
export function reasonOf(e: unknown): string {
  if (e instanceof LoaError) return `${e.code}: ${e.message}`;
  if (e instanceof Error) return e.message;
  return String(e);
}

import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openDatabase, type Db } from '../lib/sqlite.js';
import { hashSecret, newPanelPassword, newSecret } from '../lib/secrets.js';
import { writeFileAtomic } from '../lib/fs-atomic.js';
import { LoaError } from '../protocol/errors.js';
import { assertSlug, assertZonePath, parentZone, zoneContains } from '../protocol/ids.js';
import { generateSigningKeyPair, keyId } from '../protocol/signing.js';
import { ROLES, type Role } from '../protocol/contract.js';

// The province registry: zones, devices, accounts, the province's public
// signing keys and an audit trail, in one SQLite file (synchronous=FULL: a
// provisioned device that the broker then forgets is a cluster bricked on a
// pole). Private signing keys live beside it in keys/*.key, mode 0600, so the
// dispatch key can be moved to the dispatch workstation alone.
//
// The file also holds the province stores' tables (library, targets,
// programmes, rule profiles, sessions, dispatches, jobs: created by the
// numbered migrations below, one schema history for the file). Each store's
// SQL lives in its own module, on this connection handed over by openStore();
// the registry's own SQL touches only zones, devices, accounts, signing_keys,
// settings and audit (test/unit/stores.test.ts checks both).

export const REGISTRY_FILE = 'registry.sqlite';
export const KEY_NAMES = ['console', 'dispatch'] as const;
export type KeyName = (typeof KEY_NAMES)[number];
export type AccountRole = Exclude<Role, 'device'>;
export const ACCOUNT_ROLES = ROLES.filter((r): r is AccountRole => r !== 'device');

const MIGRATIONS = [
  `
  CREATE TABLE zones (
    path TEXT PRIMARY KEY,
    parent TEXT REFERENCES zones(path),
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    zone TEXT NOT NULL REFERENCES zones(path),
    secret_hash TEXT NOT NULL,
    panel_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at TEXT NOT NULL,
    rotated_at TEXT,
    revoked_at TEXT
  );
  CREATE INDEX devices_zone ON devices(zone);
  CREATE TABLE accounts (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('console', 'dispatch', 'admin', 'approver', 'editor', 'viewer')),
    zone TEXT REFERENCES zones(path),
    secret_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at TEXT NOT NULL
  );
  CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    name TEXT NOT NULL CHECK (name IN ('console', 'dispatch')),
    public_key TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT
  );
  `,
  `
  CREATE TABLE library (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mime TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    title TEXT NOT NULL,
    added_at TEXT NOT NULL,
    added_by TEXT NOT NULL
  );
  CREATE TABLE targets (
    device TEXT PRIMARY KEY REFERENCES devices(id),
    version INTEGER NOT NULL,
    spec TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
  );
  `,
  `
  -- Programmes and rule profiles belong to zones; a device's target is derived from its zone lineage.
  CREATE TABLE programmes (
    id TEXT PRIMARY KEY,
    zone TEXT NOT NULL REFERENCES zones(path),
    spec TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
  );
  CREATE TABLE rule_profiles (
    zone TEXT PRIMARY KEY REFERENCES zones(path),
    spec TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
  );
  CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(name),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
  );
  CREATE TABLE dispatches (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('start', 'cancel')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'refused', 'expired')),
    mode TEXT NOT NULL,
    command TEXT NOT NULL,
    zones TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    approved_by TEXT,
    sent_at TEXT,
    cap_key TEXT UNIQUE,
    cancels TEXT
  );
  `,
  `
  -- What ingest measured (EBU R128 on the asset as devices will play it) and what the upload was.
  ALTER TABLE library ADD COLUMN loudness TEXT;
  ALTER TABLE library ADD COLUMN source_format TEXT;
  `,
  `
  -- The console's long work (an upload's ingest, a TTS bulletin), so that the job a browser polls outlives the
  -- console process that ran it: owner is that process (lib/owned-temp.ts), progress is kept in memory only.
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    account TEXT NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    result TEXT,
    error TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT
  );
  CREATE INDEX jobs_running ON jobs(status) WHERE status = 'running';
  `,
];

export interface Zone {
  path: string;
  parent: string | null;
  name: string;
  createdAt: string;
}
export interface DeviceRow {
  id: string;
  zone: string;
  status: 'active' | 'revoked';
  createdAt: string;
  rotatedAt: string | null;
  revokedAt: string | null;
}
export interface AccountRow {
  name: string;
  role: AccountRole;
  zone: string | null;
  status: 'active' | 'revoked';
  createdAt: string;
}
/** What the broker needs to authenticate and authorise a connection. */
export type Principal =
  | { kind: 'device'; name: string; role: 'device'; zone: string; secretHash: string; active: boolean }
  | { kind: 'account'; name: string; role: AccountRole; zone: string | null; secretHash: string; active: boolean };

export interface RegistryOptions {
  /** Cost of scrypt for new secrets; tests lower it. */
  scryptLogN?: number;
  now?: () => Date;
}

export class Registry {
  readonly dir: string;
  readonly #db: Db;
  readonly #opts: RegistryOptions;

  private constructor(dir: string, db: Db, opts: RegistryOptions) {
    this.dir = dir;
    this.#db = db;
    this.#opts = opts;
  }

  static exists(dir: string): boolean {
    return existsSync(join(dir, REGISTRY_FILE));
  }

  /** Creates the registry and the province key pairs. Refuses to overwrite either. */
  static init(dir: string, settings: { brokerUrls: string[]; caFile?: string | undefined }, opts: RegistryOptions = {}): Registry {
    if (Registry.exists(dir)) throw new LoaError('LOA_E_REGISTRY_EXISTS', `a registry already exists in ${dir}; refusing to overwrite it`, { context: { dir } });
    const keyDir = join(dir, 'keys');
    for (const name of KEY_NAMES) {
      if (existsSync(join(keyDir, `${name}.key`))) throw new LoaError('LOA_E_REGISTRY_EXISTS', `${join(keyDir, name + '.key')} already exists; refusing to overwrite a signing key`);
    }
    let ca: string | null = null;
    if (settings.caFile) {
      try {
        ca = readFileSync(settings.caFile, 'utf8');
      } catch (e) {
        throw new LoaError('LOA_E_TLS_CONFIG', `cannot read CA certificate ${settings.caFile}: ${(e as Error).message}`, { cause: e });
      }
      if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new LoaError('LOA_E_TLS_CONFIG', `${settings.caFile} is not a PEM certificate`);
    }
    try {
      mkdirSync(keyDir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new LoaError('LOA_E_DATA_DIR', `cannot create ${keyDir}: ${(e as Error).message}`, { cause: e });
    }
    const pairs = KEY_NAMES.map((name) => ({ name, ...generateSigningKeyPair() }));
    const file = join(dir, REGISTRY_FILE);
    const written: string[] = [];
    try {
      const db = openDatabase(file, { synchronous: 'FULL', migrations: MIGRATIONS, what: 'registry' });
      written.push(file, file + '-wal', file + '-shm');
      const reg = new Registry(dir, db, opts);
      const at = reg.#now();
      db.transaction(() => {
        for (const p of pairs) db.prepare('INSERT INTO signing_keys (kid, name, public_key, created_at) VALUES (?, ?, ?, ?)').run(keyId(p.publicKey), p.name, p.publicKey, at);
        reg.#setSetting('broker_urls', JSON.stringify(settings.brokerUrls));
        if (ca) reg.#setSetting('broker_ca', ca);
        reg.audit('technician', 'registry.init', dir, { brokerUrls: settings.brokerUrls, keys: pairs.map((p) => ({ name: p.name, kid: keyId(p.publicKey) })) });
      })();
      for (const p of pairs) {
        const keyFile = join(keyDir, `${p.name}.key`);
        writeFileAtomic(keyFile, p.privateKey, 0o600);
        written.push(keyFile);
      }
      return reg;
    } catch (e) {
      for (const f of written) rmSync(f, { force: true });
      throw e;
    }
  }

  static open(dir: string, opts: RegistryOptions = {}): Registry {
    if (!Registry.exists(dir)) throw new LoaError('LOA_E_REGISTRY_MISSING', `no registry in ${dir}; create one with "loa provision init --data ${dir}"`, { context: { dir } });
    return new Registry(dir, openDatabase(join(dir, REGISTRY_FILE), { synchronous: 'FULL', migrations: MIGRATIONS, what: 'registry' }), opts);
  }

  close(): void {
    this.#db.close();
  }

  #now(): string {
    return (this.#opts.now?.() ?? new Date()).toISOString();
  }

  #hash(secret: string): Promise<string> {
    return hashSecret(secret, this.#opts.scryptLogN ? { logN: this.#opts.scryptLogN, r: 8, p: 1 } : undefined);
  }

  #setSetting(key: string, value: string): void {
    this.#db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  setting(key: string): string | null {
    const row = this.#db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value ?? null;
  }

  brokerUrls(): string[] {
    return JSON.parse(this.setting('broker_urls') ?? '[]') as string[];
  }

  brokerCa(): string | null {
    return this.setting('broker_ca');
  }

  /**
   * Opens a store on the registry's connection: the province stores
   * (library, targets, planning, sessions, dispatches, jobs) keep their
   * tables in this file, so that one transaction covers a store's change and
   * its audit record, but each runs its own SQL in its own module; nothing
   * else sees the handle.
   */
  openStore<T>(open: (db: Db) => T): T {
    return open(this.#db);
  }

  /** Changes whenever any connection commits to the file (PRAGMA data_version), so a long-running broker notices a revoke. */
  changeCounter(): number {
    return this.#db.pragma('data_version', { simple: true }) as number;
  }

  audit(actor: string, action: string, subject: string, detail?: unknown): void {
    this.#db.prepare('INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)').run(this.#now(), actor, action, subject, detail === undefined ? null : JSON.stringify(detail));
  }

  auditLog(limit = 100): { at: string; actor: string; action: string; subject: string; detail: unknown }[] {
    return (this.#db.prepare('SELECT at, actor, action, subject, detail FROM audit ORDER BY id DESC LIMIT ?').all(limit) as { at: string; actor: string; action: string; subject: string; detail: string | null }[]).map((r) => ({ ...r, detail: r.detail === null ? null : JSON.parse(r.detail) }));
  }

  // ------------------------------------------------------------------ keys

  publicKeys(name: KeyName): string[] {
    return (this.#db.prepare('SELECT public_key FROM signing_keys WHERE name = ? ORDER BY created_at').all(name) as { public_key: string }[]).map((r) => r.public_key);
  }

  privateKeyFile(name: KeyName): string {
    return join(this.dir, 'keys', `${name}.key`);
  }

  readPrivateKey(name: KeyName): string {
    const file = this.privateKeyFile(name);
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      throw new LoaError('LOA_E_KEYS_MISSING', `cannot read the ${name} signing key ${file}: ${(e as Error).message}`, { cause: e });
    }
  }

  // ----------------------------------------------------------------- zones

  addZone(path: string, name: string, actor = 'technician'): Zone {
    assertZonePath(path);
    const clean = name.normalize('NFC').trim();
    if (!clean || clean.length > 120 || /[\u0000-\u001f\u007f]/.test(clean)) {
      throw new LoaError('LOA_E_ZONE_NAME_INVALID', `zone name must be 1–120 printable characters, got ${JSON.stringify(name)}`);
    }
    const parent = parentZone(path);
    return this.#db.transaction(() => {
      if (this.zone(path)) throw new LoaError('LOA_E_ZONE_EXISTS', `zone ${path} already exists`, { context: { path } });
      if (parent && !this.zone(parent)) throw new LoaError('LOA_E_ZONE_PARENT_MISSING', `parent zone ${parent} does not exist; add it first`, { context: { path, parent } });
      if (parent && this.devicesIn(parent, { direct: true }).length) {
        throw new LoaError('LOA_E_ZONE_NOT_LEAF', `zone ${parent} has devices; a zone with devices cannot get child zones`, { context: { parent } });
      }
      const at = this.#now();
      this.#db.prepare('INSERT INTO zones (path, parent, name, created_at) VALUES (?, ?, ?, ?)').run(path, parent, clean, at);
      this.audit(actor, 'zone.add', path, { name: clean });
      return { path, parent, name: clean, createdAt: at };
    })();
  }

  zone(path: string): Zone | null {
    const r = this.#db.prepare('SELECT path, parent, name, created_at AS createdAt FROM zones WHERE path = ?').get(path) as Zone | undefined;
    return r ?? null;
  }

  zones(): Zone[] {
    return this.#db.prepare('SELECT path, parent, name, created_at AS createdAt FROM zones ORDER BY path').all() as Zone[];
  }

  #isLeaf(path: string): boolean {
    return !this.#db.prepare('SELECT 1 FROM zones WHERE parent = ? LIMIT 1').get(path);
  }

  // --------------------------------------------------------------- devices

  #nameTaken(name: string): boolean {
    return !!this.#db.prepare('SELECT 1 FROM devices WHERE id = ? UNION ALL SELECT 1 FROM accounts WHERE name = ?').get(name, name);
  }

  /**
   * Registers a device in a leaf zone. Returns its broker secret and panel
   * password in clear: the only time they exist outside the bundle and the
   * technician's hands.
   */
  async addDevice(opts: { zone: string; id?: string | undefined; actor?: string }): Promise<{ device: DeviceRow; secret: string; panelPassword: string; panelHash: string }> {
    assertZonePath(opts.zone);
    const id = opts.id ?? `${opts.zone.split('/').at(-1)!.slice(0, 50)}-${randomBytes(3).toString('hex')}`;
    assertSlug('device id', id);
    this.#checkDeviceZone(opts.zone);
    if (this.#nameTaken(id)) throw new LoaError('LOA_E_NAME_TAKEN', `"${id}" is already a device or account name`, { context: { id } });
    const secret = newSecret();
    const panelPassword = newPanelPassword();
    const [secretHash, panelHash] = await Promise.all([this.#hash(secret), this.#hash(panelPassword)]);
    const device = this.#db.transaction(() => {
      // Checked again inside the transaction: the hashing above yielded to the event loop.
      this.#checkDeviceZone(opts.zone);
      if (this.#nameTaken(id)) throw new LoaError('LOA_E_NAME_TAKEN', `"${id}" is already a device or account name`, { context: { id } });
      const at = this.#now();
      this.#db.prepare("INSERT INTO devices (id, zone, secret_hash, panel_hash, status, created_at) VALUES (?, ?, ?, ?, 'active', ?)").run(id, opts.zone, secretHash, panelHash, at);
      this.audit(opts.actor ?? 'technician', 'device.add', id, { zone: opts.zone });
      return this.device(id)!;
    }).immediate();
    return { device, secret, panelPassword, panelHash };
  }

  #checkDeviceZone(zone: string): void {
    if (!this.zone(zone)) throw new LoaError('LOA_E_ZONE_NOT_FOUND', `zone ${zone} does not exist; add it with "loa provision zone add ${zone} --name ..."`, { context: { zone } });
    if (!this.#isLeaf(zone)) throw new LoaError('LOA_E_ZONE_NOT_LEAF', `zone ${zone} has child zones; a device belongs to a leaf zone (a village)`, { context: { zone } });
  }

  /** Removes a device that was registered moments ago, when writing its bundle failed. */
  undoAddDevice(id: string): void {
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM devices WHERE id = ?').run(id);
      this.audit('technician', 'device.add.undone', id);
    })();
  }

  device(id: string): DeviceRow | null {
    const r = this.#db.prepare('SELECT id, zone, status, created_at AS createdAt, rotated_at AS rotatedAt, revoked_at AS revokedAt FROM devices WHERE id = ?').get(id) as DeviceRow | undefined;
    return r ?? null;
  }

  devicesIn(zone: string | null, opts: { direct?: boolean } = {}): DeviceRow[] {
    const all = this.#db.prepare('SELECT id, zone, status, created_at AS createdAt, rotated_at AS rotatedAt, revoked_at AS revokedAt FROM devices ORDER BY zone, id').all() as DeviceRow[];
    if (zone === null) return all;
    return all.filter((d) => (opts.direct ? d.zone === zone : zoneContains(zone, d.zone)));
  }

  revokeDevice(id: string, actor = 'technician'): DeviceRow {
    return this.#db.transaction(() => {
      const d = this.device(id);
      if (!d) throw new LoaError('LOA_E_DEVICE_NOT_FOUND', `no device "${id}"`, { context: { id } });
      if (d.status === 'revoked') throw new LoaError('LOA_E_DEVICE_REVOKED', `device ${id} is already revoked (${d.revokedAt})`, { context: { id } });
      this.#db.prepare("UPDATE devices SET status = 'revoked', revoked_at = ? WHERE id = ?").run(this.#now(), id);
      this.audit(actor, 'device.revoke', id);
      return this.device(id)!;
    }).immediate();
  }

  /**
   * A new local panel password for a device. Only its hash is kept; the
   * device learns it from its next target state, so `bumpTarget` (the target
   * store's: provisioning/targets.ts rotatePanelPassword) bumps its target
   * version in the same transaction (same spec) and the console republishes it.
   */
  async rotatePanelPassword(id: string, actor: string, bumpTarget: () => number | null): Promise<{ device: DeviceRow; panelPassword: string; targetVersion: number | null }> {
    const before = this.device(id);
    if (!before) throw new LoaError('LOA_E_DEVICE_NOT_FOUND', `no device "${id}"`, { context: { id } });
    if (before.status === 'revoked') throw new LoaError('LOA_E_DEVICE_REVOKED', `device ${id} is revoked`, { context: { id } });
    const panelPassword = newPanelPassword();
    const panelHash = await this.#hash(panelPassword);
    return this.#db.transaction(() => {
      this.#db.prepare('UPDATE devices SET panel_hash = ? WHERE id = ?').run(panelHash, id);
      const targetVersion = bumpTarget();
      this.audit(actor, 'device.panel-password', id, { targetVersion });
      return { device: this.device(id)!, panelPassword, targetVersion };
    }).immediate();
  }

  /** The scrypt hash of a device's local panel password (sent in its target state). */
  panelHash(id: string): string | null {
    return (this.#db.prepare('SELECT panel_hash FROM devices WHERE id = ?').get(id) as { panel_hash: string } | undefined)?.panel_hash ?? null;
  }

  /** A new broker secret; the old one is refused from the moment this commits. */
  async rotateDevice(id: string, actor = 'technician'): Promise<{ device: DeviceRow; secret: string; panelHash: string }> {
    const before = this.device(id);
    if (!before) throw new LoaError('LOA_E_DEVICE_NOT_FOUND', `no device "${id}"`, { context: { id } });
    if (before.status === 'revoked') throw new LoaError('LOA_E_DEVICE_REVOKED', `device ${id} is revoked; provision a new device instead`, { context: { id } });
    const secret = newSecret();
    const secretHash = await this.#hash(secret);
    return this.#db.transaction(() => {
      const d = this.device(id);
      if (!d || d.status === 'revoked') throw new LoaError('LOA_E_DEVICE_REVOKED', `device ${id} was revoked meanwhile`, { context: { id } });
      this.#db.prepare('UPDATE devices SET secret_hash = ?, rotated_at = ? WHERE id = ?').run(secretHash, this.#now(), id);
      this.audit(actor, 'device.rotate', id);
      const { panel_hash } = this.#db.prepare('SELECT panel_hash FROM devices WHERE id = ?').get(id) as { panel_hash: string };
      return { device: this.device(id)!, secret, panelHash: panel_hash };
    }).immediate();
  }

  // -------------------------------------------------------------- accounts

  async addAccount(opts: { name: string; role: string; zone?: string | undefined; secret?: string | undefined; actor?: string }): Promise<{ account: AccountRow; secret: string }> {
    assertSlug('account name', opts.name);
    if (!(ACCOUNT_ROLES as readonly string[]).includes(opts.role)) {
      throw new LoaError('LOA_E_ROLE_INVALID', `role "${opts.role}" is not one of ${ACCOUNT_ROLES.join(', ')}`, { context: { role: opts.role } });
    }
    if (opts.zone !== undefined) {
      assertZonePath(opts.zone);
      if (!this.zone(opts.zone)) throw new LoaError('LOA_E_ZONE_NOT_FOUND', `zone ${opts.zone} does not exist`, { context: { zone: opts.zone } });
    }
    if (opts.secret !== undefined && opts.secret.length < 12) throw new LoaError('LOA_E_CONFIG_INVALID', 'a password must have at least 12 characters');
    if (this.#nameTaken(opts.name)) throw new LoaError('LOA_E_NAME_TAKEN', `"${opts.name}" is already a device or account name`, { context: { name: opts.name } });
    const secret = opts.secret ?? newSecret();
    const secretHash = await this.#hash(secret);
    const account = this.#db.transaction(() => {
      if (this.#nameTaken(opts.name)) throw new LoaError('LOA_E_NAME_TAKEN', `"${opts.name}" is already a device or account name`, { context: { name: opts.name } });
      this.#db.prepare("INSERT INTO accounts (name, role, zone, secret_hash, status, created_at) VALUES (?, ?, ?, ?, 'active', ?)").run(opts.name, opts.role, opts.zone ?? null, secretHash, this.#now());
      this.audit(opts.actor ?? 'technician', 'account.add', opts.name, { role: opts.role, zone: opts.zone ?? null });
      return this.account(opts.name)!;
    }).immediate();
    return { account, secret };
  }

  account(name: string): AccountRow | null {
    const r = this.#db.prepare('SELECT name, role, zone, status, created_at AS createdAt FROM accounts WHERE name = ?').get(name) as AccountRow | undefined;
    return r ?? null;
  }

  accounts(): AccountRow[] {
    return this.#db.prepare('SELECT name, role, zone, status, created_at AS createdAt FROM accounts ORDER BY name').all() as AccountRow[];
  }

  /** Looks up a device or an account by the name it logs in with. */
  principal(name: string): Principal | null {
    const d = this.#db.prepare('SELECT id, zone, secret_hash, status FROM devices WHERE id = ?').get(name) as { id: string; zone: string; secret_hash: string; status: string } | undefined;
    if (d) return { kind: 'device', name: d.id, role: 'device', zone: d.zone, secretHash: d.secret_hash, active: d.status === 'active' };
    const a = this.#db.prepare('SELECT name, role, zone, secret_hash, status FROM accounts WHERE name = ?').get(name) as { name: string; role: AccountRole; zone: string | null; secret_hash: string; status: string } | undefined;
    if (a) return { kind: 'account', name: a.name, role: a.role, zone: a.zone, secretHash: a.secret_hash, active: a.status === 'active' };
    return null;
  }
}

export function isAccountRole(r: string): r is AccountRole {
  return (ACCOUNT_ROLES as readonly string[]).includes(r);
}
export { ROLES };

import type { Role } from '../protocol/contract.js';

// What the broker needs to know about the accounts that log in, and nothing
// more. The province registry (provisioning/registry.ts) provides it; the
// composition root (cli/broker.ts, cli/demo.ts) hands it in, so the broker
// does not depend on how or where the registry keeps its rows.

/** A device or an account, by the name it logs in with. */
export type Principal =
  | { kind: 'device'; name: string; role: 'device'; zone: string; secretHash: string; active: boolean }
  | { kind: 'account'; name: string; role: Exclude<Role, 'device'>; zone: string | null; secretHash: string; active: boolean };

export interface PrincipalSource {
  /** The device or account that logs in with this name, revoked ones included; null if none. */
  principal(name: string): Principal | null;
  /** A number that changes whenever principals may have changed; the broker then re-checks its sessions. */
  changeCounter(): number;
}

import { zoneContains } from '../../protocol/ids.js';
import type { AccountRole } from '../registry.js';

// Who may do what in the console. Every account is scoped to a zone subtree
// (null: the whole province); a commune editor sees and changes only that
// commune. The table is the single place permissions are decided.

export type Permission =
  | 'read' // fleet, library, programmes, plans, reports, dispatch status
  | 'edit' // library uploads, TTS, programmes, rule profiles, publish
  | 'dispatch' // compose and send exercise/test emergencies; propose actual ones and cancels
  | 'approve' // approve an actual emergency or a cancel proposed by someone else
  | 'live' // speak live (phát trực tiếp) to zones in scope: the studio page, `loa live`
  | 'admin'; // accounts, audit log

const GRANTS: Record<AccountRole, readonly Permission[]> = {
  admin: ['read', 'edit', 'dispatch', 'approve', 'live', 'admin'],
  // Live goes to the roles that already put sound on the horns; no new role,
  // since roles are also the broker's MQTT roles and its ACL must not change.
  editor: ['read', 'edit', 'live'],
  dispatch: ['read', 'dispatch', 'live'],
  approver: ['read', 'approve'],
  viewer: ['read'],
  console: [],
};

export interface Principal {
  name: string;
  role: AccountRole;
  /** Zone subtree the account may see and change; null for the whole province. */
  zone: string | null;
}

export function can(p: Principal, perm: Permission): boolean {
  return GRANTS[p.role].includes(perm);
}

/** Whether a zone (or a device's zone) lies in the principal's scope. */
export function inScope(p: Principal, zone: string): boolean {
  return p.zone === null || zoneContains(p.zone, zone);
}

/** Whether every zone of a list lies in scope (targets of a programme, of an emergency). */
export function allInScope(p: Principal, zones: readonly string[]): boolean {
  return zones.every((z) => inScope(p, z));
}

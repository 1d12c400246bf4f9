import type { DeviceState, LogRecord, NowPlaying, Telemetry } from '../protocol/payloads.js';
import type { PlanItem } from '../schedules/plan.js';
import type { PlayRequest } from './arbiter.js';
import type { OperatorDesk } from './operator-desk.js';

// The narrow interface between the local panel (device/panel/) and the agent.
// It lives here, beside the agent, so that imports run one way: the panel
// imports device/, never the reverse.

/**
 * What the panel needs of the agent, and no more (device/agent.ts implements
 * it): readings for the status page, the plan and the journal, the operator's
 * desk for actions, and the record of logins.
 */
export interface PanelPort {
  /** This cluster. */
  readonly device: { readonly id: string; readonly zone: string };
  /** The panel password's hash in force (a newer one from the province ends sessions). */
  readonly panelPasswordHash: string;
  /** The operator's desk (stop, volume, announcements), once the agent has started. */
  readonly operator: PanelDesk | null;
  /** The agent's time. */
  now(): number;
  /** Everything the status page shows, read at once. */
  panelStatus(): PanelStatusSource;
  /** The day plan of the target in force (null without a target). */
  planFor(date: string): PlanItem[] | null;
  /** The clips of the target in force that are on the device. */
  clips(): { sha256: string; title: string; durationMs: number }[];
  /** The local journal, newest first. */
  journal(limit: number, kind: 'play' | 'operator'): LogRecord[];
  /** Records an operator event for the province (logins, logouts). */
  record(kind: 'operator', data: LogRecord['data']): void;
}

export type PanelDesk = Pick<OperatorDesk, 'ttsAvailable' | 'volumeNow' | 'plannedVolume' | 'stoppable' | 'stop' | 'setVolume' | 'announceClip' | 'announceText' | 'announceUpload'>;

export interface PanelStatusSource {
  telemetry: Telemetry;
  state: DeviceState;
  /** When the target in force was applied. */
  lastSyncAt: string | null;
  link: { connected: boolean; since: string | null };
  playing: { request: PlayRequest; now: NowPlaying; volume: number | null } | null;
  outboxPending: number;
  maxAnnouncementMs: number;
}


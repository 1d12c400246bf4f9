import { isLoaError, reasonOf } from '../../protocol/errors.js';
import { capKey, mapCap, parseCap } from '../cap.js';
import type { Ctx } from './context.js';
import { allInScope, type Principal } from './access.js';
import type { DispatchRow } from './dispatch.js';
import { speakToLibrary } from './media.js';

// POST /api/cap: an OASIS CAP 1.2 alert becomes a PENDING dispatch — a person
// releases it, and an actual one needs the approver's second pair of eyes as
// any other. Its headline and instruction are spoken by TTS. Duplicates
// (sender, identifier, sent) are ignored; an Update supersedes the alerts it
// references; a Cancel cancels them.

export interface CapResult {
  status: number;
  body: unknown;
}

async function speak(ctx: Ctx, text: string, title: string, actor: string): Promise<string | null> {
  if (!ctx.tts) return null;
  return (await speakToLibrary(ctx, { text, title }, actor)).sha256;
}

/** Withdraws pending dispatches and cancels sent ones that an Update or Cancel points at. */
async function supersede(ctx: Ctx, p: Principal, keys: string[]): Promise<DispatchRow[]> {
  const out: DispatchRow[] = [];
  for (const key of keys) {
    const d = ctx.dispatcher.byCapKey(key);
    if (!d || d.kind !== 'start' || (d.status !== 'pending' && d.status !== 'sent')) continue; // never dispatched here: nothing to do
    out.push(await ctx.dispatcher.cancel(p, d.id));
  }
  return out;
}

export async function handleCap(ctx: Ctx, p: Principal, body: Buffer | undefined): Promise<CapResult> {
  if (!body?.length) return { status: 400, body: { error: { code: 'LOA_E_CAP_INVALID', message: 'send the CAP alert as the request body (Content-Type: application/xml)' } } };
  let alert;
  try {
    alert = parseCap(body);
  } catch (e) {
    const tooLarge = isLoaError(e, 'LOA_E_PAYLOAD_TOO_LARGE');
    return { status: tooLarge ? 413 : 400, body: { error: { code: 'LOA_E_CAP_INVALID', message: reasonOf(e).replace(/^LOA_E_[A-Z_]+: /, '') } } };
  }
  const key = capKey(alert);
  const seen = ctx.dispatcher.byCapKey(key);
  if (seen) return { status: 200, body: { duplicate: true, dispatch: seen } };
  const decision = mapCap(alert, { areas: ctx.capAreas ?? {}, now: ctx.now() });
  ctx.registry.audit(p.name, 'cap.received', key, { kind: decision.kind });
  switch (decision.kind) {
    case 'refused':
      return { status: 422, body: { error: { code: 'LOA_E_CAP_INVALID', message: decision.reason }, capKey: key } };
    case 'no-audio':
      return { status: 202, body: { decision } };
    case 'cancel': {
      const cancelled = await supersede(ctx, p, decision.references);
      return { status: 200, body: { decision, cancelled } };
    }
    case 'dispatch': {
      if (!allInScope(p, decision.zones)) return { status: 403, body: { error: { code: 'LOA_E_FORBIDDEN', message: `the alert's zones lie outside ${p.zone}` } } };
      let sha: string | null = null;
      try {
        sha = await speak(ctx, decision.ttsText, decision.title, p.name);
      } catch (e) {
        decision.warnings.push(`TTS failed (${reasonOf(e)}): the alert tone and siren play without speech`);
      }
      if (!sha) decision.warnings.push('no TTS on this console: the alert tone and siren play without speech');
      const minutes = Math.max(1, Math.min(24 * 60, Math.ceil((Date.parse(decision.expiresAt) - ctx.now()) / 60_000)));
      const dispatch = await ctx.dispatcher.compose(
        p,
        {
          mode: decision.mode,
          level: decision.level,
          zones: decision.zones,
          content: sha ? { kind: 'tts', text: decision.ttsText, sha256: sha } : { kind: 'standard', clip: 'siren' },
          repeat: 2,
          expiresMinutes: minutes,
          title: decision.title,
        },
        { capKey: key, forceApproval: true },
      );
      const superseded = decision.references.length ? await supersede(ctx, p, decision.references) : [];
      return { status: 201, body: { decision, dispatch, superseded } };
    }
  }
}

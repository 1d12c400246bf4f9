// CAP 1.2 intake for the console (`POST /api/cap`), pure functions only:
//
//   const alert = parseCap(body, { maxBytes });      // throws LoaError on a bad document
//   const decision = mapCap(alert, { areas, now });  // dispatch | cancel | no-audio | refused
//
// The console ignores a second alert with the same capKey (sender,
// identifier, sent): CAP feeds repeat themselves. The pieces:
//   cap-xml.ts    bytes → namespace-resolved element tree; refuses DTDs, entities,
//                 processing instructions and external references before parsing
//   cap-parse.ts  element tree → typed CapAlert (zod), capKey, references
//   cap-map.ts    CapAlert → CapDecision (mode, level table, zones, text, expiry)

export { CAP12_NS, DEFAULT_MAX_CAP_BYTES, type CapErrorKind } from './cap-xml.js';
export {
  parseCap,
  capKey,
  parseReferences,
  selectInfo,
  capTimeMs,
  type ParseCapOptions,
  type CapAlert,
  type CapInfo,
  type CapArea,
  type CapResource,
  type CapValuePair,
  type CapReference,
  type CapStatus,
  type CapMsgType,
  type CapScope,
  type CapSeverity,
  type CapUrgency,
} from './cap-parse.js';
export { mapCap, capLevel, foldName, LEVEL_TABLE, MAX_TITLE, MAX_TTS, CapMapConfig, type CapDecision, type CapMode, type CapLevel } from './cap-map.js';

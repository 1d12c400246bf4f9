import { group, runCli, type Io } from '../lib/cli.js';
import { broker } from './broker.js';
import { provision } from './provision.js';
import { demo } from './demo.js';
import { device, doctor } from './device.js';
import { tts } from './tts.js';
import { consoleCmd, library, target } from './console.js';
import { dispatch } from './dispatch.js';
import { live } from './live.js';

export const root = group('Loa: runtime for commune IP loudspeaker clusters (đài truyền thanh ứng dụng CNTT-VT)', {
  demo,
  broker,
  console: consoleCmd,
  dispatch,
  live,
  device,
  doctor,
  tts,
  provision,
  library,
  target,
});

export async function main(argv: string[], io: Io = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n'), env: process.env }): Promise<number> {
  return runCli(root, 'loa', argv, io);
}

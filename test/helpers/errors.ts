import * as assert from 'uvu/assert';
import { isLoaError, type ErrorCode, type LoaError } from '../../protocol/errors.js';

// The coded error a call fails with, or a failed assertion when it does not
// fail, or fails with another code.

export function thrownCode(fn: () => unknown, code: ErrorCode): LoaError {
  try {
    fn();
  } catch (e) {
    assert.ok(isLoaError(e, code), `expected ${code}, got ${String(e)}`);
    return e as LoaError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

export async function rejectedCode(p: Promise<unknown>, code: ErrorCode): Promise<LoaError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  assert.ok(isLoaError(e, code), `expected ${code}, got ${String(e)}`);
  return e as LoaError;
}

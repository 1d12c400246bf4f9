import { PacedSink, type PacedSinkOptions } from './paced-sink.js';

/**
 * A sink that plays into nothing, in real time: streams take as long as they
 * would on a loudspeaker, and started/ended come when they would. For the
 * demo and for devices configured without audio output.
 */
export class NullSink extends PacedSink {
  readonly kind = 'null' as const;

  constructor(opts: PacedSinkOptions = {}) {
    super(opts);
  }

  protected output(): void {
    // Discarded: only the pacing matters.
  }
}

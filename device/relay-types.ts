// The amplifier relay as the playback engine sees it. Implementations live in
// device/relay*.ts: GPIO through sysfs (written directly, see relay-sysfs.ts) with a libgpiod `gpioset`
// fallback, and a logged no-op for machines without GPIO. One contract test
// suite runs against the fake and the real adapters.

export type RelayState = 'on' | 'off';

/** A switch: the hardware side only. Timing policy lives in RelayController. */
export interface Relay {
  readonly kind: 'gpio-sysfs' | 'gpioset' | 'noop' | 'fake';
  set(state: RelayState): Promise<void>;
  readonly state: RelayState;
  close(): Promise<void>;
}

/** What telemetry reports about the amplifier. 'fault': the relay could not be switched. */
export type AmplifierState = 'on' | 'off' | 'warming' | 'fault';

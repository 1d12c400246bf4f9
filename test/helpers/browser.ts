import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { Agent } from '../../device/agent.js';
import { DeviceConfig } from '../../device/config.js';
import { ClockTrust } from '../../device/clock.js';
import { WavFileSink } from '../../audio/wav-sink.js';
import { silentLogger } from '../../lib/log.js';
import type { ConsoleFixture } from './console.js';
import { tempDir } from './tmp.js';

// Headless Debian Chromium driven by playwright-core (no downloaded
// browsers: `npx playwright install` cannot work offline), pointed at a
// console fixture on loopback, plus real village agents against the
// fixture's broker. Every wait is bounded.

export const CHROMIUM = process.env.LOA_CHROMIUM ?? '/usr/bin/chromium';
/** Default bound of every locator wait and action (ms). */
export const UI_TIMEOUT_MS = 15_000;

/** `args`: more Chromium flags (a fake microphone: --use-fake-device-for-media-stream, …). */
export function launchBrowser(opts: { args?: string[] } = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', ...(opts.args ?? [])],
    timeout: 30_000,
  });
}

export interface ConsolePage {
  context: BrowserContext;
  page: Page;
  /** Console errors, uncaught exceptions and failed requests the page saw (a CSP violation lands here too). */
  problems: string[];
}

/** A fresh browser context (its own cookies and localStorage) on the console's start page. */
/** `locale`: the browser's own (vi-VN unless a test wants another, e.g. en-US to see that the page does not follow it). */
export async function openConsole(browser: Browser, f: ConsoleFixture, opts: { viewport?: { width: number; height: number }; locale?: string } = {}): Promise<ConsolePage> {
  const addr = f.server.address;
  if (!addr) throw new Error('the console fixture has no HTTP listener');
  const context = await browser.newContext({ baseURL: `http://127.0.0.1:${addr.port}`, viewport: opts.viewport ?? { width: 1100, height: 900 }, locale: opts.locale ?? 'vi-VN', timezoneId: 'UTC' });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    // The browser logs refused API calls (401/403/429) as resource errors; those are the tests' own doing.
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|403|404|429)/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto('/');
  // The page is ready once it shows the login form or, with a live session, who is logged in.
  await page.locator('[data-testid="login-name"], [data-testid="who"]').first().waitFor();
  return { context, page, problems };
}

/** Logs in through the form and waits for the signed-in header. */
export async function login(page: Page, name: string, password: string): Promise<void> {
  await page.getByTestId('login-name').fill(name);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('who').waitFor();
}

/** Opens the console in a new context and logs in as a fixture account. */
export async function loginAs(browser: Browser, f: ConsoleFixture, name: string, opts: { viewport?: { width: number; height: number }; locale?: string } = {}): Promise<ConsolePage> {
  const c = await openConsole(browser, f, opts);
  await login(c.page, name, f.p.accounts[name]!.secret);
  return c;
}

/**
 * Real village agents for the fixture's devices, on its broker: the bundle
 * `loa provision` wrote, a temporary data directory, quick timings, no relay,
 * and a WAV file (<data>/output.wav) or nothing as the loudspeaker.
 * `trustedClock`: the agents' clocks are trusted from the start (as NTP
 * would make them), so live frames play at their stamped instants; each WAV
 * sink is then returned (in `sinks`, null for the others) with its timeline.
 */
export async function startAgents(
  f: ConsoleFixture,
  ids: string[],
  opts: { output?: 'wav' | 'null' | Record<string, 'wav' | 'null'>; trustedClock?: boolean } = {},
): Promise<{ agents: Agent[]; sinks: (WavFileSink | null)[]; stop(): Promise<void> }> {
  const agents: Agent[] = [];
  const sinks: (WavFileSink | null)[] = [];
  for (const id of ids) {
    const b = f.p.devices[id]!.bundle;
    const output = (typeof opts.output === 'object' ? opts.output[id] : opts.output) ?? 'null';
    const config = DeviceConfig.parse({
      ...b,
      broker: { ...b.broker, urls: [f.broker.url] },
      data: join(tempDir('loa-dev-'), id),
      agent: { audio: { output }, relay: { driver: 'noop' }, heartbeatSec: 5, responseTimeoutMs: 1500, retryMs: 300, logAckTimeoutMs: 2000, backoff: { minMs: 100, maxMs: 1000 }, keepaliveSec: 10 },
    });
    const clock = opts.trustedClock ? new ClockTrust({ wall: () => Date.now(), mono: () => performance.now(), ntp: () => true, rtc: false, beaconTrustMs: 3600_000, correctAboveMs: 2000 }) : undefined;
    const sink = clock && output === 'wav' ? new WavFileSink({ file: join(config.data, 'output.wav'), now: () => clock.now() }) : null;
    const agent = new Agent({ config, log: silentLogger(), relay: null, ...(clock ? { clock } : {}), ...(sink ? { sink } : {}) });
    agents.push(agent);
    sinks.push(sink);
    await agent.start();
  }
  return {
    agents,
    sinks,
    stop: async () => {
      for (const a of agents) await a.stop().catch(() => {});
    },
  };
}

/** A sine tone made by Debian's ffmpeg, in any container it can write (mp3, ogg, wav). */
export function toneFile(seconds: number, ext: 'mp3' | 'ogg' | 'wav', hz = 440): string {
  const file = join(tempDir(), `tone-${hz}-${seconds}s.${ext}`);
  const codec = ext === 'mp3' ? ['-c:a', 'libmp3lame', '-b:a', '64k'] : ext === 'ogg' ? ['-c:a', 'libopus'] : [];
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=${seconds}`, '-ac', '1', ...codec, file]);
  return file;
}

/** What an <audio> element is doing: readyState (1+: metadata known), where it is (s), whether paused, its error code. */
export function mediaState(audio: Locator): Promise<{ readyState: number; currentTime: number; paused: boolean; error: number | null }> {
  return audio.evaluate((el) => {
    const m = el as unknown as { readyState: number; currentTime: number; paused: boolean; error: { code: number } | null };
    return { readyState: m.readyState, currentTime: m.currentTime, paused: m.paused, error: m.error?.code ?? null };
  });
}

/** Goes to a section through the header's navigation (by its visible name) and waits for that view. */
export async function goTo(page: Page, name: string): Promise<void> {
  const link = page.getByRole('navigation').getByRole('link', { name, exact: true });
  const view = (await link.getAttribute('href'))!.slice(1);
  await link.click();
  await page.locator(`main[data-view="${view}"] > .view`).waitFor();
}

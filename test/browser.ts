import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

/**
 * Headless Chromium for the console's browser tests: Debian's `chromium` package (no browser
 * download), or CHROME_PATH. Without one, the tests skip with one line outside CI and fail in CI.
 */
const NO_CHROMIUM = `no Chromium at ${process.env.CHROME_PATH ?? '/usr/bin/chromium'}. Install it (\`sudo apt-get install -y chromium\`) or set CHROME_PATH.`;

export function findChromium(): string | undefined {
  // CHROME_PATH, when set, is the only browser tried: a wrong one is reported, not papered over.
  const candidates = process.env.CHROME_PATH ? [process.env.CHROME_PATH] : ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  return candidates.find((p) => existsSync(p));
}

/** The browser to use, or undefined (after saying why) when these tests should skip; throws in CI. */
export function chromiumOrSkip(): string | undefined {
  const found = findChromium();
  if (found) return found;
  if (process.env.CI) throw new Error(`CI runs the console's browser tests, but found ${NO_CHROMIUM}`);
  console.warn(`console browser tests skipped: ${NO_CHROMIUM}`);
  return undefined;
}

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

export interface TestBrowser {
  /** A fresh profile: no cookies or storage from another test. */
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(executablePath: string): Promise<TestBrowser> {
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'conveyor-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, { executablePath, headless: true, args: FLAGS, viewport: { width: 1280, height: 800 } });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** One Chromium for several people at once: each `browser.newContext()` is a fresh, separate profile. */
export function launchChromiumBrowser(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: FLAGS });
}

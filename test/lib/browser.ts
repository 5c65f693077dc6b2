/**
 * Opens pages in headless Chromium (Debian's `chromium` package) through playwright-core,
 * for tests of what a person sees. The browser gets a private profile in a temporary
 * folder and every background connection of its own turned off.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A running headless browser; close() also removes its profile. */
export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH`,
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'imgcluster-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** What the report page showed of one picture once it was scrolled into view. */
export interface SeenPicture {
  src: string;
  className: string;
  cluster: string | null;
  naturalWidth: number;
  loadedBeforeScrolling: boolean;
}

/**
 * Page script: scrolls every picture of the page into view in turn (they load lazily),
 * waits for each to load or fail (at most TIMEOUT ms a picture) and resolves to a
 * SeenPicture per picture. Kept as source text so that no compiler rewrites it into code
 * that needs helpers the page does not have.
 */
export function scrollThroughPictures(timeoutMs: number): string {
  return `(async () => {
  const imgs = [...document.querySelectorAll('img')];
  const before = imgs.map((img) => img.complete && img.naturalWidth > 0);
  for (const img of imgs) {
    img.scrollIntoView({ block: 'center' });
    await new Promise((resolve) => {
      if (img.complete && img.naturalWidth > 0) return resolve();
      img.addEventListener('load', resolve, { once: true });
      img.addEventListener('error', resolve, { once: true });
      setTimeout(resolve, ${Math.round(timeoutMs)});
    });
  }
  return imgs.map((img, i) => ({
    src: img.getAttribute('src') || '',
    className: img.className,
    cluster: img.closest('article') ? img.closest('article').getAttribute('data-cluster') : null,
    naturalWidth: img.naturalWidth,
    loadedBeforeScrolling: before[i],
  }));
})()`;
}

// Cross-origin reading of a feed in Debian's Chromium (through
// playwright-core): a page on one origin fetch()es a feed served on
// another, reads its ETag, then asks again with If-None-Match (which needs
// a CORS preflight) and must get 304.
//
//   node cors.mjs PAGE_URL FEED_URL
//
// Prints what the page saw as JSON; exits 1 when the browser refused or the
// answers were not 200 then 304, 2 when it cannot run at all.
import { launchChromium } from "./chromium.mjs";

function fail(message) {
  console.error(`cors check cannot run: ${message}`);
  process.exit(2);
}

const [pageUrl, feedUrl] = process.argv.slice(2);
if (!pageUrl || !feedUrl) fail("usage: node cors.mjs PAGE_URL FEED_URL");
if (new URL(pageUrl).origin === new URL(feedUrl).origin) fail("the page and the feed must be on two origins");

const browser = await launchChromium(fail);
let ok = false;
try {
  const page = await browser.newPage();
  await page.goto(pageUrl, { waitUntil: "load" });
  const seen = await page.evaluate(async (url) => {
    const out = {};
    try {
      const first = await fetch(url, { cache: "no-store" });
      out.first = first.status;
      out.etag = first.headers.get("etag");
      out.lastModified = first.headers.get("last-modified");
      out.bytes = (await first.text()).length;
      const second = await fetch(url, { headers: { "If-None-Match": out.etag } });
      out.second = second.status;
    } catch (e) {
      out.error = String(e);
    }
    return out;
  }, feedUrl);
  console.log(JSON.stringify(seen));
  ok = seen.first === 200 && seen.etag && seen.lastModified && seen.bytes > 0 && seen.second === 304;
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);

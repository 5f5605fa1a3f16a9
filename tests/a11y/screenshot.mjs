// A screenshot of one page in Debian's Chromium (through playwright-core),
// for a person to look at: the audience page after a replay, say.
//
//   node screenshot.mjs URL OUT.png [WIDTH] [light|dark]
//
// Fails (exit 1) when the page does not answer 200, or asks another origin
// for anything; exits 2 when it cannot run at all.
import { launchChromium } from "./chromium.mjs";

function fail(message) {
  console.error(`screenshot cannot run: ${message}`);
  process.exit(2);
}

const [url, out, width = "1280", scheme = "light"] = process.argv.slice(2);
if (!url || !out) fail("usage: node screenshot.mjs URL OUT.png [WIDTH] [light|dark]");
const browser = await launchChromium(fail);
const origin = new URL(url).origin;
const problems = [];
try {
  const context = await browser.newContext({ colorScheme: scheme, viewport: { width: Number(width), height: 900 } });
  const page = await context.newPage();
  page.on("request", (request) => {
    const asked = new URL(request.url());
    if (asked.protocol.startsWith("http") && asked.origin !== origin) problems.push(`asks another origin: ${request.url()}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
  });
  const response = await page.goto(url, { waitUntil: "load" });
  if (!response || response.status() !== 200) problems.push(`page answered ${response ? response.status() : "nothing"}`);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`${out}: ${url} at ${width} px, ${scheme}`);
} finally {
  await browser.close();
}
if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  process.exit(1);
}

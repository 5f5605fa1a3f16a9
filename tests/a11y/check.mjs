// Accessibility check of broadsheet's pages: axe-core run in Debian's
// Chromium (through playwright-core, which never downloads a browser here),
// one browser launch for every page, in the light and the dark scheme.
//
//   node check.mjs BASE_URL PATH...        e.g. node check.mjs http://127.0.0.1:8080 / /opinion/
//
// Also fails when a page asks another origin for anything (the pages must
// be self-contained), when one of its own requests fails (a missing
// stylesheet or icon), or when a caption whose photo is not on the page is
// not marked as such. Prints one line per page, scheme and width; exits 1
// on any serious or critical violation or such a problem, 2 when it cannot
// run at all.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { launchChromium } from "./chromium.mjs";

const require = createRequire(import.meta.url);

function fail(message) {
  console.error(`a11y check cannot run: ${message}`);
  process.exit(2);
}

const [base, ...paths] = process.argv.slice(2);
if (!base || paths.length === 0) fail("usage: node check.mjs BASE_URL PATH...");

let axeSource;
try {
  axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
} catch (e) {
  fail(`npm packages missing (run \`npm ci\` in tests/a11y): ${e.message}`);
}
const browser = await launchChromium(fail);

const origin = new URL(base).origin;
let failed = false;
try {
  for (const scheme of ["light", "dark"]) {
    for (const width of [390, 1280]) {
      // bypassCSP: axe is injected as a script, which a page's own policy (/stats has
      // `default-src 'none'`) would refuse; the page's requests are still watched.
      const context = await browser.newContext({ colorScheme: scheme, viewport: { width, height: 900 }, bypassCSP: true });
      for (const path of paths) {
        const page = await context.newPage();
        const problems = [];
        page.on("request", (request) => {
          const url = new URL(request.url());
          if (url.protocol.startsWith("http") && url.origin !== origin) {
            problems.push(`asks another origin: ${request.url()}`);
          }
        });
        page.on("response", (response) => {
          if (response.status() >= 400) problems.push(`${response.status()} for ${response.url()}`);
        });
        page.on("requestfailed", (request) => {
          if (new URL(request.url()).origin === origin) problems.push(`request failed: ${request.url()}`);
        });
        const response = await page.goto(new URL(path, base).href, { waitUntil: "load" });
        if (!response || !response.ok()) problems.push(`page answered ${response ? response.status() : "nothing"}`);
        // A caption whose photo is not on the page must say so in its text
        // (which feeds carry too), and is set apart as a note, so nobody
        // looks for a picture.
        const captions = await page.evaluate(() =>
          [...document.querySelectorAll("figure")]
            .filter((f) => !f.querySelector("img, picture, video, svg, iframe, object"))
            .map((f) => {
              const style = getComputedStyle(f);
              const note = style.borderLeftStyle !== "none" && style.backgroundColor !== "rgba(0, 0, 0, 0)";
              return (note ? "" : "not set as a note: ") + f.textContent;
            })
        );
        for (const content of captions) {
          if (!content.includes("image not reproduced") || content.startsWith("not set as a note"))
            problems.push(`a caption without its photo is not marked: ${content}`);
        }
        await page.addScriptTag({ content: axeSource });
        const results = await page.evaluate(() =>
          window.axe.run(document, { resultTypes: ["violations"] })
        );
        const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
        const minor = results.violations.length - bad.length;
        const label = `${path} (${scheme}, ${width} px)`;
        for (const v of bad) {
          problems.push(`${v.impact}: ${v.id}: ${v.help}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
        }
        if (problems.length > 0) {
          failed = true;
          console.log(`FAIL ${label}`);
          for (const p of problems) console.log(`  ${p}`);
        } else {
          console.log(`ok   ${label}: no serious or critical violation, ${results.passes.length} rules passed` +
            (minor ? ` (${minor} minor or moderate: ${results.violations.map((v) => v.id).join(", ")})` : ""));
        }
        await page.close();
      }
      await context.close();
    }
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);

// Debian's Chromium through playwright-core (which never downloads a
// browser here), for the browser checks in this folder. `fail(message)`
// is the calling script's: it explains and exits 2 when nothing can run.
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

export async function launchChromium(fail) {
  let chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch (e) {
    fail(`npm packages missing (run \`npm ci\` in tests/a11y): ${e.message}`);
  }
  try {
    return await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
  } catch (e) {
    fail(`cannot launch ${CHROMIUM} (apt-get install chromium): ${e.message.split("\n")[0]}`);
  }
}

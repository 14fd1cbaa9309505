// Drives code-server (the real VS Code workbench and extension host) in Debian's headless chromium
// with playwright-core, as a person would: open a file, put the cursor, ask for an inline suggestion,
// wait for the ghost text, take a screenshot, accept it with Tab, save.
//
//   node vscode_driver.mjs '{"playwright": ".../playwright-core", "chromium": "/usr/bin/chromium",
//     "url": "http://127.0.0.1:PORT", "folder": "/ws", "file": "a.py", "line": 2, "column": 5,
//     "type": "", "screenshot": "/tmp/x.png", "userDataDir": "/tmp/profile"}'
//
// Prints one JSON line: {"ghost": "<ghost text seen in the DOM>", "status": "<status bar text>"}.
// Exits non-zero with a message (and a failure screenshot beside the requested one) on any failure.
import { createRequire } from "node:module";

const opts = JSON.parse(process.argv[2]);
const require = createRequire(import.meta.url);
const { chromium } = require(opts.playwright);

const FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
];
const log = (msg) => process.stderr.write(`driver: ${msg}\n`);

async function runCommand(page, title) {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible" });
  await input.fill(`>${title}`);
  await page.locator(".quick-input-list .monaco-list-row").first().waitFor({ state: "visible" });
  await page.keyboard.press("Enter");
}

async function openFile(page, name) {
  await page.keyboard.press("Control+P");
  await page.locator(".quick-input-widget input").waitFor({ state: "visible" });
  await page.keyboard.type(name);
  // Wait for the filtered row (the list first shows recently opened files).
  await page.locator(".quick-input-list .monaco-list-row.focused", { hasText: name }).first().waitFor({ state: "visible" });
  await page.keyboard.press("Enter");
  await page.locator(".tab.active", { hasText: name }).waitFor();
}

async function main() {
  const context = await chromium.launchPersistentContext(opts.userDataDir, {
    executablePath: opts.chromium, headless: true, args: FLAGS, viewport: { width: 1100, height: 560 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  try {
    await page.goto(`${opts.url}/?folder=${encodeURIComponent(opts.folder)}`);
    await page.locator(".monaco-workbench").waitFor({ timeout: 60000 });
    log("workbench up");

    // The extension has started the server when its status bar item shows the model from seed.status.
    const status = page.locator(".statusbar-item").filter({ hasText: /seed · / });
    await status.first().waitFor({ timeout: 90000 });
    log(`status bar: ${await status.first().innerText()}`);

    await openFile(page, opts.file);
    await page.waitForTimeout(500);
    log("file open");

    await page.keyboard.press("Control+G");
    await page.locator(".quick-input-widget input").waitFor({ state: "visible" });
    await page.keyboard.type(`${opts.line}:${opts.column}`);
    await page.keyboard.press("Enter");
    await page.waitForTimeout(300);
    if (opts.type) await page.keyboard.type(opts.type, { delay: 30 });

    // Ask explicitly (as Alt+\ does), then wait for the ghost text.
    await runCommand(page, "Trigger Inline Suggestion");
    const ghost = page.locator(".monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text");
    await ghost.first().waitFor({ state: "visible", timeout: 60000 });
    await page.waitForTimeout(300);
    const ghostText = (await ghost.allInnerTexts()).join("\n");
    log(`ghost text: ${JSON.stringify(ghostText)}`);
    await page.screenshot({ path: opts.screenshot });

    await page.keyboard.press("Tab");
    await page.waitForTimeout(300);
    await page.keyboard.press("Control+S");
    await page.waitForTimeout(800);
    const result = { ghost: ghostText, status: await status.first().innerText() };

    if (opts.holesFile) {
      // Fill Holes: the server fills every <|fill|> marker through workspace/applyEdit.
      await openFile(page, opts.holesFile);
      await page.locator(".monaco-editor .view-lines", { hasText: "<|fill|>" }).first().waitFor();
      await runCommand(page, "seed-lsp: Fill Holes");
      await page.locator(".monaco-editor .view-lines", { hasText: "<|fill|>" }).first().waitFor({ state: "detached", timeout: 60000 });
      await page.keyboard.press("Control+S");
      await page.waitForTimeout(800);
      log("holes filled");
    }
    // Toggle: completions off shows in the status bar.
    await runCommand(page, "seed-lsp: Toggle Completions");
    await status.filter({ hasText: "(off)" }).first().waitFor({ timeout: 10000 });
    result.statusOff = await status.first().innerText();
    process.stdout.write(JSON.stringify(result) + "\n");
  } catch (err) {
    await page.screenshot({ path: opts.screenshot.replace(/\.png$/, "-failure.png") }).catch(() => {});
    throw err;
  } finally {
    await context.close();
  }
}

main().catch((err) => {
  process.stderr.write(`driver failed: ${err.stack || err}\n`);
  process.exit(1);
});

/**
 * seed-lsp for VS Code: a thin client of the `seed-lsp serve` language server (stdio).
 *
 * - Inline completions (ghost text) come from LSP textDocument/inlineCompletion, which
 *   vscode-languageclient >= 10 registers by itself; Tab accepts them as with any inline suggestion.
 *   A middleware skips requests while completions are toggled off and records the latency.
 *   VS Code's cancellation token is forwarded by the client as $/cancelRequest, so typing cancels.
 * - Commands: Fill Selection (seed.fillSelection {uri, range}), Fill Holes (seed.fillHoles {uri}),
 *   Toggle (the `seed-lsp.enable` setting), Show Status (seed.status), Restart Server.
 *   The server applies fills itself with workspace/applyEdit.
 * - Settings become the server's initializationOptions; changing one restarts the server.
 */
import * as vscode from "vscode";
import { ExecuteCommandRequest, LanguageClient, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";
import { StatusBar } from "./status";

const SECTION = "seed-lsp";
/** Settings whose change needs a new server process. */
const RESTART_KEYS = ["command", "model", "device", "strategy", "maxTokens", "confidenceFloor", "documentSelector"];

let client: LanguageClient | undefined;
let status: StatusBar;
let output: vscode.LogOutputChannel;

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

function enabled(): boolean {
  return config().get<boolean>("enable", true);
}

/**
 * The server's initializationOptions. The same keys also answer the server's workspace/configuration
 * pull for the "seed-lsp" section, so every default in package.json is a value the server accepts.
 */
function initializationOptions(): Record<string, unknown> {
  const c = config();
  const options: Record<string, unknown> = { enable: enabled() };
  for (const key of ["model", "device", "strategy"]) {
    const value = c.get<string | null>(key, null);
    if (value) options[key] = value; // unset model: the embedded one
  }
  for (const key of ["maxTokens", "confidenceFloor"]) {
    const value = c.get<number | null>(key, null);
    if (typeof value === "number") options[key] = value;
  }
  return options;
}

async function startClient(): Promise<void> {
  const [command, ...args] = config().get<string[]>("command", ["seed-lsp", "serve"]);
  // No `transport` field: with TransportKind.stdio the client would append "--stdio" to the arguments.
  const serverOptions: ServerOptions = { command, args };
  const languages = config().get<string[]>("documentSelector", ["*"]);
  const documentSelector = languages.flatMap((language) =>
    ["file", "untitled"].map((scheme) => (language === "*" ? { scheme } : { scheme, language })),
  );
  const clientOptions: LanguageClientOptions = {
    documentSelector,
    initializationOptions: initializationOptions(),
    outputChannel: output,
    middleware: {
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        if (!enabled()) return null;
        const started = Date.now();
        const result = await next(document, position, context, token);
        if (!token.isCancellationRequested) status.setLatency(Date.now() - started);
        return result;
      },
    },
  };
  client = new LanguageClient(SECTION, "seed-lsp", serverOptions, clientOptions);
  status.setState("starting");
  try {
    await client.start();
  } catch (err) {
    status.setState("stopped");
    void vscode.window.showErrorMessage(
      `seed-lsp: could not start \`${[command, ...args].join(" ")}\` (${String(err)}). Set "seed-lsp.command" to your seed-lsp executable.`,
    );
    return;
  }
  status.setState("running");
  void serverStatus(false);
}

async function stopClient(): Promise<void> {
  const old = client;
  client = undefined;
  if (old) await old.stop().catch(() => undefined);
}

async function executeServerCommand(command: string, args: unknown[]): Promise<unknown> {
  if (!client || !client.isRunning()) throw new Error("the seed-lsp server is not running");
  return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
}

/** Asks the server for seed.status; shows it when `show`, always refreshes the status bar. */
async function serverStatus(show: boolean): Promise<void> {
  try {
    const info = await executeServerCommand("seed.status", []);
    status.setServerInfo(info);
    if (show) {
      output.info(`seed.status: ${JSON.stringify(info, null, 2)}`);
      output.show(true);
    }
  } catch (err) {
    if (show) void vscode.window.showErrorMessage(`seed-lsp: ${String(err)}`);
  }
}

async function fill(kind: "selection" | "holes"): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !client) return;
  const uri = editor.document.uri.toString();
  const args =
    kind === "selection"
      ? [{ uri, range: client.code2ProtocolConverter.asRange(editor.selection) }]
      : [{ uri }];
  const command = kind === "selection" ? "seed.fillSelection" : "seed.fillHoles";
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: `seed-lsp: ${command}` },
      () => executeServerCommand(command, args),
    );
  } catch (err) {
    void vscode.window.showErrorMessage(`seed-lsp: ${command} failed: ${String(err)}`);
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("seed-lsp", { log: true });
  status = new StatusBar();
  status.setEnabled(enabled());
  context.subscriptions.push(
    output,
    status,
    vscode.commands.registerCommand("seed-lsp.fillSelection", () => fill("selection")),
    vscode.commands.registerCommand("seed-lsp.fillHoles", () => fill("holes")),
    vscode.commands.registerCommand("seed-lsp.toggle", () =>
      config().update("enable", !enabled(), vscode.ConfigurationTarget.Global),
    ),
    vscode.commands.registerCommand("seed-lsp.status", () => serverStatus(true)),
    vscode.commands.registerCommand("seed-lsp.restart", async () => {
      await stopClient();
      await startClient();
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration(`${SECTION}.enable`)) status.setEnabled(enabled());
      if (RESTART_KEYS.some((key) => event.affectsConfiguration(`${SECTION}.${key}`))) {
        await stopClient();
        await startClient();
      }
    }),
  );
  await startClient();
}

export async function deactivate(): Promise<void> {
  await stopClient();
}

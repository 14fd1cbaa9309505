/**
 * Status bar item of the seed-lsp extension: model, device and the latency of the last inline
 * completion; "off" when completions are toggled off, an error sign when the server is not running.
 * Clicking it runs the command `seed-lsp.status` (which asks the server for `seed.status`).
 */
import * as vscode from "vscode";

export type ServerState = "starting" | "running" | "stopped";

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private model = "";
  private device = "";
  private latencyMs: number | undefined;
  private enabled = true;
  private state: ServerState = "starting";

  constructor() {
    this.item = vscode.window.createStatusBarItem("seed-lsp.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "seed-lsp";
    this.item.command = "seed-lsp.status";
    this.render();
    this.item.show();
  }

  setState(state: ServerState): void {
    this.state = state;
    this.render();
  }

  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    this.render();
  }

  setLatency(ms: number): void {
    this.latencyMs = ms;
    this.render();
  }

  /** Takes model and device from a `seed.status` result (top level or one object down). */
  setServerInfo(info: unknown): void {
    this.model = findString(info, ["model", "model_name", "modelName"]) ?? this.model;
    this.device = findString(info, ["device"]) ?? this.device;
    this.render();
  }

  private render(): void {
    const parts = ["seed"];
    if (this.model) parts.push(shortModel(this.model));
    if (this.device) parts.push(this.device);
    if (this.latencyMs !== undefined) parts.push(`${Math.round(this.latencyMs)} ms`);
    const icon = this.state === "stopped" ? "$(error)" : this.state === "starting" ? "$(loading~spin)" : this.enabled ? "$(sparkle)" : "$(circle-slash)";
    this.item.text = `${icon} ${parts.join(" · ")}${this.enabled ? "" : " (off)"}`;
    this.item.tooltip = `seed-lsp: ${this.state}${this.enabled ? "" : ", completions off"}\nmodel: ${this.model || "?"}\ndevice: ${this.device || "?"}\nclick: server status`;
  }

  dispose(): void {
    this.item.dispose();
  }
}

/** The last path component of a model directory, or the name as given. */
function shortModel(model: string): string {
  const parts = model.split(/[\\/]/).filter((p) => p.length > 0);
  return parts.length > 0 ? parts[parts.length - 1] : model;
}

function findString(value: unknown, keys: string[], depth = 0): string | undefined {
  if (value === null || typeof value !== "object" || depth > 1) return undefined;
  const record = value as Record<string, unknown>;
  for (const key of keys) {
    const v = record[key];
    if (typeof v === "string" && v.length > 0) return v;
  }
  for (const v of Object.values(record)) {
    const found = findString(v, keys, depth + 1);
    if (found) return found;
  }
  return undefined;
}

--- :checkhealth seed_lsp — Neovim version, server command, attached client and its capabilities.
local M = {}

function M.check()
  local h = vim.health
  local seed = require("seed_lsp")
  h.start("seed_lsp")
  if vim.fn.has("nvim-0.11") == 1 then
    h.ok("Neovim " .. tostring(vim.version()))
  else
    h.error("Neovim 0.11 or newer is required")
  end
  local info = seed.info()
  h.info(info.native and "ghost text: built-in vim.lsp.inline_completion" or "ghost text: seed_lsp extmarks")
  local cmd = seed.config.cmd or {}
  if cmd[1] and vim.fn.executable(cmd[1]) == 1 then
    h.ok("server command: " .. table.concat(cmd, " "))
  else
    h.error("server command not executable: " .. tostring(cmd[1]), {
      "pip install seed-lsp (it provides `seed-lsp`), or set cmd = { '/path/to/seed-lsp', 'serve' } in setup()",
    })
  end
  -- :checkhealth shows its report in a new buffer, so look at every client, not the current buffer's.
  local client = vim.lsp.get_clients({ name = "seed-lsp" })[1]
  if not client then
    h.warn("no seed-lsp client running", { "open a file of a configured filetype" })
    return
  end
  h.ok(("client %d running (root %s)"):format(client.id, client.root_dir or "?"))
  if client.server_capabilities and client.server_capabilities.inlineCompletionProvider then
    h.ok("server offers textDocument/inlineCompletion")
  else
    h.error("server does not offer textDocument/inlineCompletion")
  end
  local s = info.stats
  h.info(("requests %d, cancelled %d, shown %d, accepted %d"):format(s.requests, s.cancelled, s.shown, s.accepted))
end

return M

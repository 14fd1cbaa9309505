--- seed-lsp for Neovim: starts `seed-lsp serve` with vim.lsp.start for the configured filetypes and
--- shows its LSP inline completions as ghost text.
---
---   require("seed_lsp").setup({
---     cmd = { "seed-lsp", "serve" },         -- server command line (stdio)
---     filetypes = { "python", ... },          -- buffers to attach to ({} or nil: every filetype)
---     init_options = { model = "/path", device = "auto", strategy = "auto",
---                      maxTokens = 64, confidenceFloor = 0.51, enable = true },
---     debounce_ms = 100,                      -- automatic suggestions in insert mode after a pause
---     auto = true,                            -- false: only on `suggest` keymap / .suggest()
---     keymaps = { accept = "<Tab>", dismiss = "<C-]>", suggest = "<M-\\>" },  -- false disables one
---     builtin = true,                         -- on 0.12+: use vim.lsp.inline_completion
---   })
---
--- API: .suggest() asks now, .suggestion() the text shown (or nil), .accept() inserts it (true when
--- it did), .dismiss(). Commands: :SeedFillSelection, :SeedFillHoles, :SeedStatus, :SeedToggle.
--- On 0.11 the ghost text is drawn by seed_lsp.ghost (extmarks); typing cancels the request in flight.
local ghost = require("seed_lsp.ghost")
local native = require("seed_lsp.native")

local M = {}
local api = vim.api

local defaults = {
  cmd = { "seed-lsp", "serve" },
  filetypes = nil,
  init_options = {},
  debounce_ms = 100,
  auto = true,
  keymaps = { accept = "<Tab>", dismiss = "<C-]>", suggest = "<M-\\>" },
  builtin = true,
  root_markers = { ".git", "pyproject.toml", "setup.py", "package.json" },
}

M.config = vim.deepcopy(defaults)
local use_native = false
local timer = nil ---@type uv.uv_timer_t?
local group = api.nvim_create_augroup("seed_lsp", { clear = true })

---@param bufnr? integer
---@return vim.lsp.Client?
function M.client(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr or 0, name = "seed-lsp" })[1]
end

function M.suggest()
  if use_native then
    return native.suggest()
  end
  local client = M.client()
  if client then
    ghost.request(client, 1)
  end
end

---@return string?
function M.suggestion()
  return use_native and native.suggestion() or ghost.suggestion()
end

---@return boolean
function M.accept()
  return (use_native and native.accept or ghost.accept)()
end

function M.dismiss()
  if use_native then
    return native.dismiss()
  end
  ghost.cancel()
  ghost.clear()
end

local function stop_timer()
  if timer then
    timer:stop()
  end
end

--- Typing: drop the shown suggestion, cancel the request in flight, ask again after a pause.
local function on_typed()
  M.dismiss()
  stop_timer()
  if not M.config.auto then
    return
  end
  timer = timer or vim.uv.new_timer()
  local bufnr = api.nvim_get_current_buf()
  timer:start(M.config.debounce_ms, 0, vim.schedule_wrap(function()
    if api.nvim_get_current_buf() == bufnr and api.nvim_get_mode().mode:sub(1, 1) == "i" then
      local client = M.client(bufnr)
      if client then
        ghost.request(client, 2)
      end
    end
  end))
end

--- A key that falls back to its own meaning when there is nothing to accept.
local function accept_or_feed(key)
  return function()
    if not M.accept() then
      api.nvim_feedkeys(api.nvim_replace_termcodes(key, true, false, true), "n", false)
    end
  end
end

local function set_keymaps(bufnr)
  local k = M.config.keymaps or {}
  if k.accept then
    vim.keymap.set("i", k.accept, accept_or_feed(k.accept), { buffer = bufnr, desc = "seed-lsp: accept suggestion" })
  end
  if k.dismiss then
    vim.keymap.set("i", k.dismiss, M.dismiss, { buffer = bufnr, desc = "seed-lsp: dismiss suggestion" })
  end
  if k.suggest then
    vim.keymap.set("i", k.suggest, M.suggest, { buffer = bufnr, desc = "seed-lsp: suggest now" })
  end
end

local function attach(bufnr)
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument.inlineCompletion = { dynamicRegistration = false }
  local client_id = vim.lsp.start({
    name = "seed-lsp",
    cmd = M.config.cmd,
    root_dir = vim.fs.root(bufnr, M.config.root_markers) or vim.fn.getcwd(),
    init_options = M.config.init_options,
    settings = { ["seed-lsp"] = M.config.init_options }, -- answers the server's workspace/configuration pull
    capabilities = caps,
  }, { bufnr = bufnr })
  if not client_id then
    return
  end
  set_keymaps(bufnr)
  if use_native then
    return native.attach(bufnr)
  end
  api.nvim_clear_autocmds({ group = group, buffer = bufnr })
  api.nvim_create_autocmd({ "TextChangedI", "CursorMovedI" }, { group = group, buffer = bufnr, callback = on_typed })
  api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      stop_timer()
      M.dismiss()
    end,
  })
end

--- Sends workspace/executeCommand `command` with `args`; the server applies edits itself.
local function exec(command, args, on_result)
  local client = M.client()
  if not client then
    return vim.notify("seed-lsp: no server attached to this buffer", vim.log.levels.WARN)
  end
  client:request("workspace/executeCommand", { command = command, arguments = args }, function(err, result)
    if err then
      vim.notify(("seed-lsp: %s failed: %s"):format(command, err.message), vim.log.levels.ERROR)
    elseif on_result then
      on_result(result)
    end
  end, api.nvim_get_current_buf()) -- a real number: 0 would skip flushing pending didChange
end

--- The LSP range of :[range]SeedFillSelection: the characterwise visual selection when it made the
--- range, else whole lines.
local function selection_range(opts, client)
  local visual = opts.range > 0 and vim.fn.visualmode() == "v"
    and vim.fn.line("'<") == opts.line1 and vim.fn.line("'>") == opts.line2
  if visual then
    return vim.lsp.util.make_given_range_params(nil, nil, 0, client.offset_encoding).range
  end
  local last = vim.fn.getline(opts.line2)
  local width = vim.str_utfindex(last, client.offset_encoding)
  return { start = { line = opts.line1 - 1, character = 0 }, ["end"] = { line = opts.line2 - 1, character = width } }
end

local function create_commands()
  api.nvim_create_user_command("SeedFillSelection", function(opts)
    local client = M.client()
    if client then
      exec("seed.fillSelection", { { uri = vim.uri_from_bufnr(0), range = selection_range(opts, client) } })
    end
  end, { range = true, desc = "seed-lsp: fill the selected text (or lines) with the model" })
  api.nvim_create_user_command("SeedFillHoles", function()
    exec("seed.fillHoles", { { uri = vim.uri_from_bufnr(0) } })
  end, { desc = "seed-lsp: fill every hole marker in the buffer" })
  api.nvim_create_user_command("SeedStatus", function()
    exec("seed.status", {}, function(result)
      vim.notify("seed-lsp: " .. vim.inspect(result), vim.log.levels.INFO)
    end)
  end, { desc = "seed-lsp: server status (model, device, latency)" })
  api.nvim_create_user_command("SeedToggle", function()
    M.config.auto = not M.config.auto
    M.dismiss()
    vim.notify("seed-lsp: automatic suggestions " .. (M.config.auto and "on" or "off"))
  end, { desc = "seed-lsp: automatic suggestions on/off" })
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts or {})
  use_native = M.config.builtin and native.available()
  api.nvim_set_hl(0, "SeedLspGhost", { link = "Comment", default = true })
  create_commands()
  local fts = M.config.filetypes
  api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = (fts and #fts > 0) and fts or "*",
    callback = function(ev)
      if vim.bo[ev.buf].buftype == "" then
        attach(ev.buf)
      end
    end,
  })
  -- Buffers already open when setup runs.
  for _, bufnr in ipairs(api.nvim_list_bufs()) do
    local ft = vim.bo[bufnr].filetype
    if api.nvim_buf_is_loaded(bufnr) and ft ~= "" and (not fts or #fts == 0 or vim.tbl_contains(fts, ft)) then
      attach(bufnr)
    end
  end
end

--- For tests and :checkhealth: which path draws, and the request counters of the extmark path.
function M.info()
  return { native = use_native, stats = ghost.stats, pending = ghost.pending() }
end

return M

--- Ghost text for LSP textDocument/inlineCompletion drawn with extmarks (the Neovim 0.11 path).
---
--- One suggestion at a time: `request` asks the server at the cursor (cancelling the request still in
--- flight with client:cancel_request), `show` draws the first item as virt_text at the cursor plus
--- virt_lines for the rest, `accept` inserts it, `clear` removes it. A response that arrives after the
--- buffer or cursor moved is dropped: the user never sees a completion for text that is gone.
local M = {}

local api = vim.api
local ns = api.nvim_create_namespace("seed_lsp.ghost")
M.ns = ns

---@class seed_lsp.Item
---@field bufnr integer
---@field client_id integer
---@field range integer[] {srow, scol, erow, ecol}: 0-based rows, byte columns; replaced on accept
---@field text string full text that replaces `range`
---@field shown string part of `text` drawn after the cursor
---@field command? table LSP command to run after accepting

local inflight = nil ---@type {client: vim.lsp.Client, id: integer}?
local current = nil ---@type seed_lsp.Item?

M.stats = { requests = 0, cancelled = 0, shown = 0, accepted = 0 }

--- Cancels the request in flight, if any.
function M.cancel()
  if inflight then
    inflight.client:cancel_request(inflight.id)
    M.stats.cancelled = M.stats.cancelled + 1
    inflight = nil
  end
end

function M.clear()
  if current and api.nvim_buf_is_valid(current.bufnr) then
    api.nvim_buf_clear_namespace(current.bufnr, ns, 0, -1)
  end
  current = nil
end

---@return string? text shown now
function M.suggestion()
  return current and current.shown or nil
end

---@return boolean busy a request is in flight
function M.pending()
  return inflight ~= nil
end

--- LSP position -> byte column on that buffer line.
local function byte_col(bufnr, pos, encoding)
  local line = api.nvim_buf_get_lines(bufnr, pos.line, pos.line + 1, false)[1] or ""
  local ok, col = pcall(vim.str_byteindex, line, encoding, pos.character, false)
  return ok and col or #line
end

---@param client vim.lsp.Client
---@param bufnr integer
---@param raw table lsp.InlineCompletionItem
---@param cursor integer[] {row (1-based), col (bytes)}
function M.show(client, bufnr, raw, cursor)
  M.clear()
  local row, col = cursor[1] - 1, cursor[2]
  local text = type(raw.insertText) == "table" and raw.insertText.value or raw.insertText or ""
  local range = { row, col, row, col }
  if raw.range then
    local s, e = raw.range.start, raw.range["end"]
    range = { s.line, byte_col(bufnr, s, client.offset_encoding), e.line, byte_col(bufnr, e, client.offset_encoding) }
  end
  -- The range may start before the cursor (text the user already typed): draw only what is new.
  local shown = text
  if range[1] == row and range[2] <= col then
    local typed = api.nvim_buf_get_text(bufnr, row, range[2], row, col, {})[1] or ""
    if text:sub(1, #typed) == typed then
      shown = text:sub(#typed + 1)
    end
  end
  if shown == "" then
    return
  end
  local lines = vim.split(shown, "\n", { plain = true })
  local virt_lines = {}
  for i = 2, #lines do
    virt_lines[#virt_lines + 1] = { { lines[i], "SeedLspGhost" } }
  end
  api.nvim_buf_set_extmark(bufnr, ns, row, col, {
    virt_text = { { lines[1], "SeedLspGhost" } },
    virt_text_pos = "inline",
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = "combine",
  })
  current = { bufnr = bufnr, client_id = client.id, range = range, text = text, shown = shown, command = raw.command }
  M.stats.shown = M.stats.shown + 1
end

--- Asks `client` for an inline completion at the cursor of the current window.
---@param client vim.lsp.Client
---@param trigger_kind integer 1 invoked, 2 automatic
function M.request(client, trigger_kind)
  M.cancel()
  M.clear()
  local bufnr, win = api.nvim_get_current_buf(), api.nvim_get_current_win()
  local params = vim.lsp.util.make_position_params(win, client.offset_encoding)
  params.context = { triggerKind = trigger_kind }
  local tick, cursor = api.nvim_buf_get_changedtick(bufnr), api.nvim_win_get_cursor(win)
  local id ---@type integer?
  local ok
  ok, id = client:request("textDocument/inlineCompletion", params, function(err, result)
    if not inflight or inflight.id ~= id then
      return -- cancelled or superseded
    end
    inflight = nil
    if err or not result then
      return
    end
    local stale = api.nvim_get_current_buf() ~= bufnr
      or api.nvim_buf_get_changedtick(bufnr) ~= tick
      or not vim.deep_equal(api.nvim_win_get_cursor(0), cursor)
    local item = (result.items or result)[1]
    if item and not stale then
      M.show(client, bufnr, item, cursor)
    end
  end, bufnr)
  if ok and id then
    inflight = { client = client, id = id }
    M.stats.requests = M.stats.requests + 1
  end
end

--- Inserts the suggestion shown now; false when there is none.
---@return boolean
function M.accept()
  local item = current
  if not item or item.bufnr ~= api.nvim_get_current_buf() then
    return false
  end
  M.clear()
  local lines = vim.split(item.text, "\n", { plain = true })
  local r = item.range
  api.nvim_buf_set_text(item.bufnr, r[1], r[2], r[3], r[4], lines)
  local end_row = r[1] + #lines - 1
  local end_col = (#lines == 1 and r[2] or 0) + #lines[#lines]
  api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  local client = vim.lsp.get_client_by_id(item.client_id)
  if item.command and client then
    client:exec_cmd(item.command, { bufnr = item.bufnr })
  end
  M.stats.accepted = M.stats.accepted + 1
  return true
end

return M

--- Neovim 0.12+ path: the built-in vim.lsp.inline_completion draws, requests and accepts; this module
--- only adapts it to the plugin's API (suggest / suggestion / accept / dismiss). The built-in owns
--- automatic triggering, so `debounce_ms` does not apply here.
local M = {}

local api = vim.api
local ic = vim.lsp.inline_completion

---@return boolean
function M.available()
  return vim.fn.has("nvim-0.12") == 1 and ic ~= nil and ic.enable ~= nil and ic.get ~= nil
end

---@param bufnr integer
function M.attach(bufnr)
  ic.enable(true, { bufnr = bufnr })
end

local function namespace()
  return api.nvim_get_namespaces()["nvim.lsp.inline_completion"]
end

--- Text of the built-in's ghost text in the current buffer (virt_text then virt_lines), or nil.
---@return string?
function M.suggestion()
  local ns = namespace()
  if not ns then
    return nil
  end
  local marks = api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
  local mark = marks[1]
  if not mark then
    return nil
  end
  local lines = { table.concat(vim.tbl_map(function(chunk) return chunk[1] end, mark[4].virt_text or {})) }
  for _, vl in ipairs(mark[4].virt_lines or {}) do
    lines[#lines + 1] = table.concat(vim.tbl_map(function(chunk) return chunk[1] end, vl))
  end
  return table.concat(lines, "\n")
end

function M.suggest()
  if not M.suggestion() then
    ic.get() -- with nothing shown, get() requests an invoked completion
  end
end

---@return boolean
function M.accept()
  if not M.suggestion() then
    return false
  end
  return ic.get() ~= false
end

function M.dismiss()
  local ns = namespace()
  if ns then
    api.nvim_buf_clear_namespace(0, ns, 0, -1)
  end
end

return M

-- socket2/ngx/re.lua: ngx.re.match/find/gmatch/sub/gsub on PCRE2 through
-- the FFI (libpcre2-8: on Debian a dependency of grep, so always there).
--
-- Semantics as documented by lua-nginx-module (README, "ngx.re.match" and
-- the sections after it): captures[0] is the whole match, unmatched groups
-- are false, named groups appear by name too (with option D, duplicate
-- names give an array of the values), ctx.pos is where matching starts and
-- is set after the match; options a d D i j J m o s u U x; sub/gsub take a
-- template ($0, $1, ${1}, $$) or a function of the match table. Errors
-- (a bad regex, a bad template) are returned, an unknown option raises.
-- Every compiled regex is cached (at most CACHE_MAX, least recently
-- compiled evicted): 'o' costs nothing extra and is accepted.
local ffi = require'ffi'
local bit = require'bit'

local M = {}

local lib, lib_err
do
  local names = {os.getenv'SOCKET2_LIBPCRE2', 'libpcre2-8.so.0', 'pcre2-8', 'libpcre2-8-0', 'libpcre2-8.0.dylib'}
  for i = 1, #names do
    local n = names[i]
    if n and n ~= '' then
      local ok, l = pcall(ffi.load, n)
      if ok then lib = l; break end
    end
  end
  if not lib then lib_err = 'PCRE2 (libpcre2-8) is not available: ngx.re needs it (set SOCKET2_LIBPCRE2 to its path)' end
end

ffi.cdef[[
typedef struct s2c_pcre2_code s2c_pcre2_code;
typedef struct s2c_pcre2_md s2c_pcre2_md;
s2c_pcre2_code *pcre2_compile_8(const char *pattern, size_t length, uint32_t options, int *errorcode,
                                size_t *erroroffset, void *ccontext);
void pcre2_code_free_8(s2c_pcre2_code *code);
int pcre2_jit_compile_8(s2c_pcre2_code *code, uint32_t options);
int pcre2_pattern_info_8(const s2c_pcre2_code *code, uint32_t what, void *where);
s2c_pcre2_md *pcre2_match_data_create_from_pattern_8(const s2c_pcre2_code *code, void *gcontext);
void pcre2_match_data_free_8(s2c_pcre2_md *md);
int pcre2_match_8(const s2c_pcre2_code *code, const char *subject, size_t length, size_t startoffset,
                  uint32_t options, s2c_pcre2_md *md, void *mcontext);
int pcre2_dfa_match_8(const s2c_pcre2_code *code, const char *subject, size_t length, size_t startoffset,
                      uint32_t options, s2c_pcre2_md *md, void *mcontext, int *workspace, size_t wscount);
size_t *pcre2_get_ovector_pointer_8(s2c_pcre2_md *md);
int pcre2_get_error_message_8(int errorcode, char *buffer, size_t bufflen);
]]

-- pcre2.h (10.42) values
local ANCHORED, NO_UTF_CHECK = 0x80000000, 0x40000000
local ALLOW_EMPTY_CLASS, ALT_BSUX, CASELESS, DOTALL, DUPNAMES, EXTENDED = 0x1, 0x2, 0x8, 0x20, 0x40, 0x80
local MATCH_UNSET_BACKREF, MULTILINE, UTF = 0x200, 0x400, 0x80000
local JIT_COMPLETE = 0x1
local ERROR_NOMATCH = -1
local INFO_CAPTURECOUNT, INFO_NAMECOUNT, INFO_NAMEENTRYSIZE, INFO_NAMETABLE = 4, 17, 18, 19

local bor, band = bit.bor, bit.band
local sub, byte, find, concat = string.sub, string.byte, string.find, table.concat
local tonumber, type, tostring = tonumber, type, tostring

local errcode, erroffset = ffi.new'int[1]', ffi.new'size_t[1]'
local u32 = ffi.new'uint32_t[1]'
local nametable = ffi.new'const uint8_t*[1]'
local errbuf = ffi.new'char[256]'
local DFA_WS = 100
local dfa_ws = ffi.new('int[?]', DFA_WS)

-- options string -> compile flags, match flags, dfa, jit, dupnames
local opt_cache = {}
local function parse_opts(opts, fname)
  if type(opts) == 'nil' then opts = '' end -- (a NULL cdata == nil: refused below)
  local o = opt_cache[opts]
  if o then return o end
  if type(opts) ~= 'string' then
    error(('bad argument #3 to \'%s\' (string expected, got %s)'):format(fname, type(opts)), 4)
  end
  local cflags, mflags, dfa, jit, dup = 0, 0, false, false, false
  for i = 1, #opts do
    local c = sub(opts, i, i)
    if c == 'a' then cflags = bor(cflags, ANCHORED)
    elseif c == 'd' then dfa = true
    elseif c == 'D' then cflags = bor(cflags, DUPNAMES); dup = true
    elseif c == 'i' then cflags = bor(cflags, CASELESS)
    elseif c == 'j' then jit = true
    elseif c == 'J' then cflags = bor(cflags, ALT_BSUX, MATCH_UNSET_BACKREF, ALLOW_EMPTY_CLASS)
    elseif c == 'm' then cflags = bor(cflags, MULTILINE)
    elseif c == 'o' then -- luacheck: ignore 542 (every regex is cached: nothing to do)
    elseif c == 's' then cflags = bor(cflags, DOTALL)
    elseif c == 'u' then cflags = bor(cflags, UTF)
    elseif c == 'U' then cflags = bor(cflags, UTF); mflags = bor(mflags, NO_UTF_CHECK)
    elseif c == 'x' then cflags = bor(cflags, EXTENDED)
    else error(('%s: unknown flag "%s" (flags "%s")'):format(fname, c, opts), 4) end
  end
  o = {cflags = cflags, mflags = mflags, dfa = dfa, jit = jit, dup = dup, utf = band(cflags, UTF) ~= 0}
  opt_cache[opts] = o
  return o
end

local CACHE_MAX = 1024
local cache, ncache, order = {}, 0, {}

local function compile(regex, opts, fname)
  if not lib then return nil, lib_err end
  if type(regex) ~= 'string' then
    if type(regex) == 'number' then regex = tostring(regex)
    else error(('bad argument #2 to \'%s\' (string expected, got %s)'):format(fname, type(regex)), 3) end
  end
  local o = parse_opts(opts, fname)
  local key = regex .. '\0' .. (type(opts) == 'string' and opts or '')
  local re = cache[key]
  if re then return re end
  local code = lib.pcre2_compile_8(regex, #regex, o.cflags, errcode, erroffset, nil)
  if code == nil then
    local n = lib.pcre2_get_error_message_8(errcode[0], errbuf, 256)
    local msg = n > 0 and ffi.string(errbuf, n) or ('error ' .. errcode[0])
    local off = tonumber(erroffset[0])
    return nil, ('pcre2_compile() failed: %s in "%s" at "%s"'):format(msg, regex, sub(regex, off + 1))
  end
  code = ffi.gc(code, lib.pcre2_code_free_8)
  if o.jit then lib.pcre2_jit_compile_8(code, JIT_COMPLETE) end -- (without JIT: interpreted)
  lib.pcre2_pattern_info_8(code, INFO_CAPTURECOUNT, u32)
  local ncap = tonumber(u32[0])
  local names
  lib.pcre2_pattern_info_8(code, INFO_NAMECOUNT, u32)
  local nnames = tonumber(u32[0])
  if nnames > 0 then
    lib.pcre2_pattern_info_8(code, INFO_NAMEENTRYSIZE, u32)
    local esize = tonumber(u32[0])
    lib.pcre2_pattern_info_8(code, INFO_NAMETABLE, nametable)
    names = {}
    local t = nametable[0]
    for i = 0, nnames - 1 do
      local e = t + i * esize
      names[#names + 1] = {e[0] * 256 + e[1], ffi.string(e + 2)}
    end
  end
  local md = ffi.gc(lib.pcre2_match_data_create_from_pattern_8(code, nil), lib.pcre2_match_data_free_8)
  re = {code = code, md = md, ov = lib.pcre2_get_ovector_pointer_8(md), ncap = ncap, names = names,
        o = o, mflags = o.mflags}
  if ncache >= CACHE_MAX then -- drop the oldest
    local old = table.remove(order, 1)
    cache[old] = nil
    ncache = ncache - 1
  end
  cache[key] = re
  order[#order + 1] = key
  ncache = ncache + 1
  return re
end

local UNSET_MIN = 2 ^ 62 -- PCRE2_UNSET is ~(size_t)0

-- One match from byte offset 'from' (0-based): rc (> 0: pairs in the
-- ovector), 0 for no match, or nil, err.
local function exec(re, subj, from, extra)
  local rc
  if re.o.dfa then
    rc = lib.pcre2_dfa_match_8(re.code, subj, #subj, from, bor(re.mflags, extra or 0), re.md, nil, dfa_ws, DFA_WS)
    if rc == 0 then rc = 1 end -- more matches than fit: the longest is first
  else
    rc = lib.pcre2_match_8(re.code, subj, #subj, from, bor(re.mflags, extra or 0), re.md, nil)
  end
  if rc == ERROR_NOMATCH then return 0 end
  if rc < 0 then
    local n = lib.pcre2_get_error_message_8(rc, errbuf, 256)
    return nil, ('pcre_exec() failed: %d (%s)'):format(rc, n > 0 and ffi.string(errbuf, n) or '?')
  end
  return rc
end

-- The match table of the last exec.
local function captures(re, subj, rc, res)
  local ov = re.ov
  local m = res or {}
  m[0] = sub(subj, tonumber(ov[0]) + 1, tonumber(ov[1]))
  if re.o.dfa then return m end
  for i = 1, re.ncap do
    local a = tonumber(ov[2 * i])
    if i < rc and a < UNSET_MIN then
      m[i] = sub(subj, a + 1, tonumber(ov[2 * i + 1]))
    else
      m[i] = false
    end
  end
  local names = re.names
  if names then
    if re.o.dup then
      for k = 1, #names do
        local n, name = names[k][1], names[k][2]
        local v = m[n]
        local t = m[name]
        if type(t) ~= 'table' then t = {}; m[name] = t end
        if v then t[#t + 1] = v end
      end
      for k = 1, #names do -- a name none of whose groups matched: false
        local name = names[k][2]
        if type(m[name]) == 'table' and #m[name] == 0 then m[name] = false end
      end
    else
      for k = 1, #names do m[names[k][2]] = m[names[k][1]] end
    end
  end
  return m
end

local function subject_of(s, fname)
  if type(s) == 'string' then return s end
  if type(s) == 'number' then return tostring(s) end
  error(('bad argument #1 to \'%s\' (string expected, got %s)'):format(fname, type(s)), 3)
end

-- ctx (a table or nil) -> the start position
local function ctx_pos(ctx, fname)
  if type(ctx) == 'nil' then return 1 end
  if type(ctx) ~= 'table' then error(('bad argument #4 to \'%s\' (table expected, got %s)'):format(fname, type(ctx)), 3) end
  local pos = ctx.pos
  if type(pos) == 'nil' then return 1 end
  if type(pos) ~= 'number' or pos ~= pos then
    error(('bad argument #4 to \'%s\' (ctx.pos must be a number)'):format(fname), 3)
  end
  if pos < 1 then pos = 1 end
  return math.floor(pos)
end

-- ngx.re.match(subject, regex, [options], [ctx], [res_table]) -> captures,
-- or nil (no match), or nil, err
function M.match(subject, regex, options, ctx, res)
  subject = subject_of(subject, 'match')
  local pos = ctx_pos(ctx, 'match')
  if type(res) ~= 'nil' and type(res) ~= 'table' then
    error(('bad argument #5 to \'match\' (table expected, got %s)'):format(type(res)), 2)
  end
  local re, err = compile(regex, options, 'match')
  if not re then return nil, err end
  if pos > #subject + 1 then return nil end
  local rc
  rc, err = exec(re, subject, pos - 1)
  if not rc then return nil, err end
  if rc == 0 then return nil end
  if ctx then ctx.pos = tonumber(re.ov[1]) + 1 end
  return captures(re, subject, rc, res)
end

-- ngx.re.find(subject, regex, [options], [ctx], [nth]) -> from, to
function M.find(subject, regex, options, ctx, nth)
  subject = subject_of(subject, 'find')
  local pos = ctx_pos(ctx, 'find')
  if type(nth) == 'nil' then nth = 0 end
  if type(nth) ~= 'number' or not (nth >= 0) then -- luacheck: ignore 581 (NaN fails it too)
    error(('bad argument #5 to \'find\' (non-negative number expected, got %s)'):format(tostring(nth)), 2)
  end
  nth = math.floor(nth)
  local re, err = compile(regex, options, 'find')
  if not re then return nil, nil, err end
  if pos > #subject + 1 then return nil end
  local rc
  rc, err = exec(re, subject, pos - 1)
  if not rc then return nil, nil, err end
  if rc == 0 then return nil end
  local ov = re.ov
  if ctx then ctx.pos = tonumber(ov[1]) + 1 end
  if nth > re.ncap or (nth > 0 and nth >= rc) then return nil, nil end
  local a = tonumber(ov[2 * nth])
  if a >= UNSET_MIN then return nil, nil end
  return a + 1, tonumber(ov[2 * nth + 1])
end

-- The offset after an empty match at 'at' (one character: UTF-8 aware).
local function step(re, subj, at)
  if re.o.utf then
    local c = byte(subj, at + 1)
    if c and c >= 0xC0 then
      local n = c >= 0xF0 and 4 or c >= 0xE0 and 3 or 2
      return at + n
    end
  end
  return at + 1
end

-- ngx.re.gmatch(subject, regex, [options]) -> iterator (each call: the next
-- captures, nil at the end, or nil, err)
function M.gmatch(subject, regex, options)
  subject = subject_of(subject, 'gmatch')
  local re, err = compile(regex, options, 'gmatch')
  if not re then return nil, err end
  local pos, done = 0, false
  return function()
    if done or pos > #subject then return nil end
    local rc, e = exec(re, subject, pos)
    if not rc then done = true; return nil, e end
    if rc == 0 then done = true; return nil end
    local ov = re.ov
    local a, b = tonumber(ov[0]), tonumber(ov[1])
    local m = captures(re, subject, rc)
    pos = (a == b) and step(re, subject, b) or b
    return m
  end
end

-- A sub/gsub template -> list of parts (strings, and numbers for groups),
-- or nil when it is malformed.
local function parse_template(t)
  local parts, i, n = {}, 1, #t
  local lit = {}
  while i <= n do
    local c = sub(t, i, i)
    if c == '$' then
      local nx = sub(t, i + 1, i + 1)
      if nx == '$' then
        lit[#lit + 1] = '$'; i = i + 2
      elseif find(nx, '^%d') then
        local d = t:match('^%d+', i + 1)
        if #lit > 0 then parts[#parts + 1] = concat(lit); lit = {} end
        parts[#parts + 1] = tonumber(d)
        i = i + 1 + #d
      elseif nx == '{' then
        local d, close = t:match('^(%d+)()}', i + 2)
        if not d then return nil end
        if #lit > 0 then parts[#parts + 1] = concat(lit); lit = {} end
        parts[#parts + 1] = tonumber(d)
        i = close + 1
      else
        return nil
      end
    else
      local j = find(t, '$', i, true) or n + 1
      lit[#lit + 1] = sub(t, i, j - 1)
      i = j
    end
  end
  if #lit > 0 then parts[#parts + 1] = concat(lit) end
  return parts
end
local tpl_strings = {}

local function expand(parts, re, subj)
  local ov = re.ov
  local out = {}
  for k = 1, #parts do
    local p = parts[k]
    if type(p) == 'string' then out[k] = p
    else
      local a = p <= re.ncap and tonumber(ov[2 * p]) or UNSET_MIN
      out[k] = a < UNSET_MIN and sub(subj, a + 1, tonumber(ov[2 * p + 1])) or ''
    end
  end
  return concat(out)
end

local function substitute(subject, regex, replace, options, global)
  local fname = global and 'gsub' or 'sub'
  subject = subject_of(subject, fname)
  local re, err = compile(regex, options, fname)
  if not re then return nil, nil, err end
  local parts
  local tr = type(replace)
  if tr == 'number' then replace = tostring(replace); tr = 'string' end
  if tr == 'string' then
    parts = tpl_strings[replace]
    if not parts then
      parts = parse_template(replace)
      if not parts then return nil, nil, 'failed to compile the replacement template' end
      tpl_strings[replace] = parts
    end
  elseif tr ~= 'function' then
    error(('bad argument #3 to \'%s\' (string or function expected, got %s)'):format(fname, tr), 3)
  end
  local out, pos, count, len = {}, 0, 0, #subject
  while pos <= len do
    local rc, e = exec(re, subject, pos)
    if not rc then return nil, nil, e end
    if rc == 0 then break end
    local ov = re.ov
    local a, b = tonumber(ov[0]), tonumber(ov[1])
    out[#out + 1] = sub(subject, pos + 1, a)
    if parts then
      out[#out + 1] = expand(parts, re, subject)
    else
      local r = replace(captures(re, subject, rc))
      if type(r) == 'number' then r = tostring(r)
      elseif type(r) ~= 'string' then r = '' end
      out[#out + 1] = r
    end
    count = count + 1
    if a == b then
      local nb = step(re, subject, b)
      out[#out + 1] = sub(subject, b + 1, nb)
      pos = nb
    else
      pos = b
    end
    if not global then break end
  end
  if count == 0 then return subject, 0 end
  out[#out + 1] = sub(subject, pos + 1)
  return concat(out), count
end

function M.sub(subject, regex, replace, options) return substitute(subject, regex, replace, options, false) end
function M.gsub(subject, regex, replace, options) return substitute(subject, regex, replace, options, true) end

-- Is PCRE2 there? true, or nil, why.
function M.available()
  if lib then return true end
  return nil, lib_err
end

return M

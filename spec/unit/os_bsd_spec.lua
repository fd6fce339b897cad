-- spec/unit/os_bsd_spec.lua: lua/socket2/os/bsd.lua and the test-only
-- spec/kqemu/include/sys/event.h cannot be checked by running them on
-- macOS or FreeBSD here, so their numbers are checked against a source one
-- can cite: the BSD definitions in Debian's librust-libc-dev
-- (/usr/share/cargo/registry/libc-*/src/unix/bsd). Every C constant of
-- bsd.lua, the layout of its structs, and the kqueue constants and struct
-- kevent of the emulation header, for FreeBSD (x86-64, 13) and macOS (64-bit).
-- `make test` installs the package (tools/deps.sh); without it this is pending.

local ROOT = require'helpers'.ROOT

local H = require'helpers'
local sh_quote = H.shell_quote

local function read(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read'*a'
  f:close()
  return s
end

local function run(cmd)
  local p = assert(io.popen(cmd .. ' 2>&1'))
  local out = p:read'*a'
  local ok, _, code = p:close()
  return out, ok == true or ok == 0 or code == 0
end

-- the newest libc crate source Debian installed
local function crate_root()
  local out = run('ls -d /usr/share/cargo/registry/libc-*/src/unix 2>/dev/null | sort -V | tail -n 1')
  local dir = out:match'^(%S+)'
  return dir and read(dir .. '/bsd/mod.rs') and dir or nil
end

-- Files in the order a definition is looked for (the most specific first).
local FILES = {
  freebsd = {'bsd/freebsdlike/freebsd/x86_64/mod.rs', 'bsd/freebsdlike/freebsd/freebsd13/mod.rs',
             'bsd/freebsdlike/freebsd/mod.rs', 'bsd/freebsdlike/mod.rs', 'bsd/mod.rs', 'mod.rs',
             'align.rs'},
  macos = {'bsd/apple/b64/x86_64/mod.rs', 'bsd/apple/b64/mod.rs', 'bsd/apple/mod.rs',
           'bsd/mod.rs', 'mod.rs', 'align.rs'},
}

-- {consts = {NAME = 'expr'}, types = {name = 'type'}, structs = {name = {{field, type}...}}}
local function load_source(root, flavour)
  local src = {consts = {}, types = {}, structs = {}}
  for _, rel in ipairs(FILES[flavour]) do
    local text = read(root .. '/' .. rel)
    if text then
      text = text:gsub('//[^\n]*', '')
      for name, expr in text:gmatch'pub const ([%w_]+)%s*:[^=;]-=%s*([^;]-)%s*;' do
        if src.consts[name] == nil then src.consts[name] = expr end
      end
      for name, ty in text:gmatch'pub type ([%w_]+)%s*=%s*([^;]-)%s*;' do
        if src.types[name] == nil then src.types[name] = ty end
      end
      for name, body in text:gmatch'pub struct ([%w_]+)%s*{(.-)\n%s*}' do
        if src.structs[name] == nil then
          local fields, index = {}, {}
          body = body:gsub('#%[[^\n]*%]', '')
          for fname, ty in body:gmatch'([%w_]+)%s*:%s*([^,\n]+)' do
            ty = ty:gsub('%s+$', '')
            if index[fname] then fields[index[fname]][2] = ty -- a cfg'd twin: keep the last
            else fields[#fields + 1] = {fname, ty}; index[fname] = #fields end
          end
          local a = text:match('#%[repr%(align%((%d+)%)%)%]%s*pub struct ' .. name .. '%s*{')
          fields.align = tonumber(a)
          src.structs[name] = fields
        end
      end
    end
  end
  return src
end

-- Evaluates a constant's expression: literals, other constants, |, <<, casts.
local function eval(src, expr, depth)
  depth = depth or 0
  if depth > 10 then return nil end
  expr = expr:gsub('%s+as%s+[:%w_]+', ''):gsub('::', ''):gsub('^%s+', ''):gsub('%s+$', '')
  local inner = expr:match'^%((.*)%)$'
  if inner then return eval(src, inner, depth + 1) end
  local a, b = expr:match'^(.-)%s*|%s*(.+)$'
  if a then
    local x, y = eval(src, a, depth + 1), eval(src, b, depth + 1)
    return x and y and bit.bor(x, y) % 2^32
  end
  a, b = expr:match'^(.-)%s*<<%s*(.+)$'
  if a then
    local x, y = eval(src, a, depth + 1), eval(src, b, depth + 1)
    return x and y and x * 2^y
  end
  local neg, lit = expr:match'^(%-?)%s*(0[xX][%x_]+)'
  if not lit then neg, lit = expr:match'^(%-?)%s*(%d[%d_]*)' end
  if lit and expr:match'^%-?%s*[%w_]+$' then
    local n = tonumber((lit:gsub('_', '')))
    return neg == '-' and -n or n
  end
  if expr:match'^[%a_][%w_]*$' and src.consts[expr] then
    return eval(src, src.consts[expr], depth + 1)
  end
  return nil
end

-- size and alignment of a Rust type on a 64-bit target
local PRIM = {u8 = 1, i8 = 1, u16 = 2, i16 = 2, u32 = 4, i32 = 4, f32 = 4, u64 = 8, i64 = 8,
              f64 = 8, usize = 8, isize = 8, c_char = 1, c_schar = 1, c_uchar = 1, c_short = 2,
              c_ushort = 2, c_int = 4, c_uint = 4, c_long = 8, c_ulong = 8, c_longlong = 8,
              c_ulonglong = 8, size_t = 8, ssize_t = 8, intptr_t = 8, uintptr_t = 8}

local layout
local function type_size(src, ty)
  ty = ty:gsub('::', ''):gsub('^%s+', ''):gsub('%s+$', '')
  if ty:match'^%*' then return 8, 8 end
  local elem, count = ty:match'^%[(.-);%s*(%d+)%]$'
  if elem then
    local s, a = type_size(src, elem)
    return s * tonumber(count), a
  end
  if PRIM[ty] then return PRIM[ty], PRIM[ty] end
  if src.types[ty] then return type_size(src, src.types[ty]) end
  if src.structs[ty] then
    local l = layout(src, ty)
    return l.size, l.align
  end
  error('unknown Rust type ' .. ty)
end

-- {size, align, fields = {{name, offset}...}} of a struct as the C compiler lays it out
function layout(src, name)
  local fields = assert(src.structs[name], 'struct ' .. name .. ' not in the source')
  local off, align, out = 0, fields.align or 1, {}
  for _, f in ipairs(fields) do
    local s, a = type_size(src, f[2])
    off = math.ceil(off / a) * a
    out[#out + 1] = {(f[1]:gsub('^_+', '')), off}
    off = off + s
    if a > align then align = a end
  end
  return {size = math.ceil(off / align) * align, align = align, fields = out}
end

-- The layouts bsd.lua's cdefs give, from a fresh LuaJIT (they would clash
-- with the Linux cdefs loaded in this one).
local STRUCTS = {'sockaddr', 'sockaddr_in', 'sockaddr_in6', 'sockaddr_un', 'sockaddr_storage',
                 'addrinfo', 'linger', 'timespec', 'pollfd'}

local function lua_layouts(flavour)
  local prog = ([[
    local ffi = require'ffi'
    loadfile(%q)('cdef', %q)
    for _, name in ipairs{%s} do
      local ct = 'struct ' .. name
      io.write(name, ' size ', ffi.sizeof(ct), '\n')
    end
  ]]):format(ROOT .. '/lua/socket2/os/bsd.lua', flavour, "'" .. table.concat(STRUCTS, "','") .. "'")
  local exe = arg and arg[-1] or 'luajit'
  if not exe:find'luajit' then exe = 'luajit' end
  local out = run(sh_quote(exe) .. ' -e ' .. sh_quote(prog))
  local sizes = {}
  for name, size in out:gmatch'(%S+) size (%d+)' do sizes[name] = tonumber(size) end
  return sizes, out, exe
end

local function lua_offset(exe, flavour, struct, field)
  local prog = ([[
    local ffi = require'ffi'
    loadfile(%q)('cdef', %q)
    io.write(tostring(ffi.offsetof('struct %s', %q)))
  ]]):format(ROOT .. '/lua/socket2/os/bsd.lua', flavour, struct, field)
  return tonumber((run(sh_quote(exe) .. ' -e ' .. sh_quote(prog))))
end

-- #defines of the emulation header per layout: {freebsd = {}, macos = {}}
local function header_defines()
  local text = assert(read(ROOT .. '/spec/kqemu/include/sys/event.h'))
  local defs, section = {freebsd = {}, macos = {}}, nil
  for line in text:gmatch'[^\n]*' do
    if line:match'^#ifdef KQEMU_LAYOUT_MACOS' then section = 'macos'
    elseif line:match'^#else' and section then section = 'freebsd'
    elseif line:match'^#endif' then section = nil
    else
      local name, value = line:match'^#define ([A-Z][%w_]*)%s+%(?(%-?[%dxXa-fA-F]+)u?%)?%s*$'
      if name and (name:match'^EV_' or name:match'^EVFILT_' or name:match'^NOTE_') then
        local v = tonumber(value) or tonumber(value:sub(2)) and -tonumber(value:sub(2))
        if section ~= 'freebsd' then defs.macos[name] = v end
        if section ~= 'macos' then defs.freebsd[name] = v end
      end
    end
  end
  return defs
end

local root = require'ffi'.os ~= 'Windows' and crate_root()

describe('BSD constants and layouts against librust-libc-dev', function()
  if require'ffi'.os == 'Windows' then
    pending('checks Debian files from the Linux host; the Windows run (Wine) has nothing to add')
    return
  end
  if not root then
    pending('librust-libc-dev is not installed (run: sh tools/deps.sh librust-libc-dev); '
      .. 'bsd.lua and the kqueue emulation header are not checked')
    return
  end

  for _, flavour in ipairs{'freebsd', 'macos'} do
    describe(flavour, function()
      local src = load_source(root, flavour)

      it('every C constant of bsd.lua has the value of the source', function()
        local K = loadfile(ROOT .. '/lua/socket2/os/bsd.lua')('constants', flavour)
        local bad, n = {}, 0
        for name, v in pairs(K) do
          n = n + 1
          local want = src.consts[name] and eval(src, src.consts[name])
          if want ~= v then
            bad[#bad + 1] = ('%s = %s, the source says %s'):format(name, tostring(v),
              src.consts[name] and (want and tostring(want) or src.consts[name] .. ' (not evaluated)')
              or 'nothing (no such constant)')
          end
        end
        table.sort(bad)
        assert.is_true(n > 80, 'bsd.lua constants for ' .. flavour .. ': only ' .. n)
        assert.same({}, bad)
      end)

      it('the cdef structs have the layout of the source', function()
        local sizes, out, exe = lua_layouts(flavour)
        local bad = {}
        for _, name in ipairs(STRUCTS) do
          local want = layout(src, name)
          if sizes[name] ~= want.size then
            bad[#bad + 1] = ('sizeof(struct %s) = %s, the source says %d'):format(name, tostring(sizes[name]), want.size)
          end
        end
        -- offsets: the fields whose place differs between Linux and BSD
        for _, sf in ipairs{{'sockaddr', 'sa_family'}, {'sockaddr_in', 'sin_port'},
            {'sockaddr_in6', 'sin6_scope_id'}, {'sockaddr_un', 'sun_path'},
            {'sockaddr_storage', 'ss_align'}, {'addrinfo', 'ai_canonname'},
            {'addrinfo', 'ai_addr'}, {'addrinfo', 'ai_next'}} do
          local want
          for _, f in ipairs(layout(src, sf[1]).fields) do if f[1] == sf[2] then want = f[2] end end
          local got = lua_offset(exe, flavour, sf[1], sf[2])
          if got ~= want then
            bad[#bad + 1] = ('offsetof(struct %s, %s) = %s, the source says %s'):format(
              sf[1], sf[2], tostring(got), tostring(want))
          end
        end
        assert.same({}, bad, out)
      end)

      it('the kqueue emulation header has the constants of the source', function()
        local defs = header_defines()[flavour]
        local bad, n = {}, 0
        for name, v in pairs(defs) do
          n = n + 1
          local want = src.consts[name] and eval(src, src.consts[name])
          if want ~= v then
            bad[#bad + 1] = ('%s = %s, the source says %s'):format(name, tostring(v), tostring(want))
          end
        end
        assert.is_true(n >= 20, 'too few #defines found: ' .. n)
        assert.same({}, bad)
      end)

      it("the kqueue emulation header's struct kevent has the layout of the source", function()
        local cc = os.getenv'CC' or 'cc'
        local _, have_cc = run('command -v ' .. sh_quote(cc))
        if not have_cc then pending('no C compiler: struct kevent layout not checked'); return end
        local c = os.tmpname()
        local f = assert(io.open(c .. '.c', 'w'))
        f:write[[
#include <stdio.h>
#include <stddef.h>
#include <sys/event.h>
#define F(m) printf(#m " %zu %zu\n", offsetof(struct kevent, m), sizeof(((struct kevent *)0)->m))
int main(void) {
    printf("size %zu\n", sizeof(struct kevent));
    F(ident); F(filter); F(flags); F(fflags); F(data); F(udata);
    return 0;
}
]]
        f:close()
        local def = flavour == 'macos' and ' -DKQEMU_LAYOUT_MACOS' or ''
        local out, ok = run(('%s%s -I%s -o %s %s && %s'):format(sh_quote(cc), def,
          sh_quote(ROOT .. '/spec/kqemu/include'), sh_quote(c), sh_quote(c .. '.c'), sh_quote(c)))
        os.remove(c .. '.c'); os.remove(c)
        assert.is_true(ok, out)
        local want = layout(src, 'kevent')
        assert.equal(want.size, tonumber(out:match'size (%d+)'), 'sizeof(struct kevent)')
        for i, fl in ipairs(want.fields) do
          if fl[1] ~= 'ext' then
            local off, size = out:match(fl[1] .. ' (%d+) (%d+)')
            assert.equal(fl[2], tonumber(off), 'offsetof(struct kevent, ' .. fl[1] .. ')')
            assert.equal(type_size(src, src.structs.kevent[i][2]), tonumber(size),
              'sizeof(struct kevent.' .. fl[1] .. ')')
          end
        end
      end)
    end)
  end
end)

-- luarocks make socket2-scm-1.rockspec   (works offline: everything is here)
package = 'socket2'
version = 'scm-1'
source = {url = 'git+file://.'}
description = {
  summary = 'Portable coroutine-based async sockets for LuaJIT',
  detailed = [[
TCP, UDP, raw and unix sockets, non-blocking name lookup and a coroutine
scheduler with timers for LuaJIT, over a minimal C shim that owns the
kernel event object (epoll, kqueue, IOCP, io_uring).]],
  license = 'MIT',
}
dependencies = {'lua == 5.1'} -- LuaJIT reports itself as Lua 5.1
-- the Makefile builds the shim (a plain shared library loaded with ffi.load,
-- not a Lua C module) and installs it beside the Lua files
build = {
  type = 'make',
  build_target = 'all',
  build_variables = {CFLAGS = '$(CFLAGS)'},
  install_variables = {LUA_LIBDIR = '$(LIBDIR)', LUA_SHAREDIR = '$(LUADIR)'},
}

-- socket2: portable coroutine-based async sockets for LuaJIT.
--   local socket = require'socket2'
-- This file only assembles the public API from the parts in socket2/.
local ffi = require'ffi'
local shim = require'socket2.shim'
local sched = require'socket2.sched'
local addr = require'socket2.addr'
local sock = require'socket2.socket'
local stream = require'socket2.stream'
local errors = require'socket2.errors'
local threads = require'socket2.threads'
local args = require'socket2.args'

local M = {}

M.backend = shim.backend -- 'epoll', 'kqueue', 'iocp', 'io_uring'
M.C = require'socket2.os'.C

-- addresses
M.addr = addr.addr
M.sockaddr = addr.sockaddr
M.getnameinfo = addr.getnameinfo
M.getaddrinfo = addr.getaddrinfo
M.htons, M.ntohs, M.htonl, M.ntohl = addr.htons, addr.ntohs, addr.htonl, addr.ntohl

-- sockets
M.tcp, M.udp, M.raw, M.unix, M.wrap = sock.tcp, sock.udp, sock.raw, sock.unix, sock.wrap
M.issocket = sock.is_socket
M.connect, M.listen = sock.connect, sock.listen
M.stream = stream.new
M.select = require'socket2.select'.select

-- scheduler
M.newthread = sched.newthread
M.currentthread = sched.current
M.join, M.kill, M.onerror = threads.join, threads.kill, threads.onerror
M.suspend, M.resume = threads.suspend, threads.resume
M.poll, M.start, M.stop, M.run = sched.poll, sched.start, sched.stop, threads.run
M.sleep, M.sleep_until, M.clock = threads.sleep, threads.sleep_until, args.clock
M.stats = sched.stats

-- the kernel object, to share it with another OS thread's socket2
local function handle_getter(name, backends)
  return function(h)
    if not backends[shim.backend] then
      errors.misuse('socket2.' .. name, ('not available with the %s backend'):format(shim.backend))
    end
    local v
    if h ~= nil then
      local ok, c = pcall(ffi.cast, 'int64_t', h)
      if not ok or (type(h) ~= 'number' and type(h) ~= 'cdata') or (type(h) == 'number' and h ~= math.floor(h)) then
        errors.arg(name, 1, 'handle expected')
      end
      v = tonumber(c)
    end
    return sched.handle(v, 'socket2.' .. name)
  end
end
M.epoll_fd = handle_getter('epoll_fd', {epoll = true})
M.kqueue_fd = handle_getter('kqueue_fd', {kqueue = true})
M.iocp = handle_getter('iocp', {iocp = true})
-- io_uring: rings are per thread; passing another thread's ring fd shares
-- its kernel workers (IORING_SETUP_ATTACH_WQ), completions stay per ring
M.io_uring_fd = handle_getter('io_uring_fd', {io_uring = true})

return M

-- socket2/os/bsd.lua: the macOS and FreeBSD socket ABI (64-bit). Every
-- os/*.lua file exports the same keys as linux.lua, so the rest of socket2
-- never asks which OS it runs on.
--
-- What differs from Linux: sockaddrs start with a length byte (sa_len) and a
-- one-byte family; AF_INET6 is 30 on macOS, 28 on FreeBSD; errno, SO_*,
-- TCP_*, AI_* values; addrinfo has ai_canonname before ai_addr; sun_path is
-- 104 bytes. macOS has no SOCK_NONBLOCK/SOCK_CLOEXEC, no accept4 and no
-- MSG_NOSIGNAL: sockets get O_NONBLOCK, FD_CLOEXEC and SO_NOSIGPIPE with
-- fcntl/setsockopt instead.
--
-- This file cannot run on Linux, so its numbers are checked there against
-- a source: spec/unit/os_bsd_spec.lua compares every entry of the C-named
-- tables below, and the struct layouts of the cdefs, with Debian's
-- librust-libc-dev. For that, loading is in two parts:
--   loadfile(path)('constants', 'freebsd' | 'macos') -> the C constants only
--   loadfile(path)('cdef', 'freebsd' | 'macos')      -> also declares the cdefs
--                                                       (in a fresh LuaJIT)
--   require'socket2.os.bsd'                          -> the OS module
local ffi = require'ffi'
local bit = require'bit'

local mode, flavour = ...

-- C constants: the same names as in the C headers ------------------------------

local common = {
  AF_UNSPEC = 0, AF_UNIX = 1, AF_INET = 2,
  SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3, SOCK_SEQPACKET = 5,
  IPPROTO_IP = 0, IPPROTO_ICMP = 1, IPPROTO_IGMP = 2, IPPROTO_TCP = 6, IPPROTO_UDP = 17,
  IPPROTO_IPV6 = 41, IPPROTO_ICMPV6 = 58, IPPROTO_RAW = 255,
  AI_PASSIVE = 0x1, AI_CANONNAME = 0x2, AI_NUMERICHOST = 0x4, AI_ALL = 0x100,
  AI_ADDRCONFIG = 0x400, AI_V4MAPPED = 0x800,
  MSG_OOB = 0x1, MSG_PEEK = 0x2, MSG_DONTROUTE = 0x4, MSG_EOR = 0x8, MSG_WAITALL = 0x40,
  MSG_DONTWAIT = 0x80,
  SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2,
  NI_NOFQDN = 0x1, NI_NUMERICHOST = 0x2, NI_NAMEREQD = 0x4, NI_NUMERICSERV = 0x8, NI_DGRAM = 0x10,
  SOL_SOCKET = 0xffff,
  SO_DEBUG = 0x1, SO_ACCEPTCONN = 0x2, SO_REUSEADDR = 0x4, SO_KEEPALIVE = 0x8,
  SO_DONTROUTE = 0x10, SO_BROADCAST = 0x20, SO_LINGER = 0x80, SO_OOBINLINE = 0x100,
  SO_REUSEPORT = 0x200, SO_SNDBUF = 0x1001, SO_RCVBUF = 0x1002, SO_SNDLOWAT = 0x1003,
  SO_RCVLOWAT = 0x1004, SO_ERROR = 0x1007, SO_TYPE = 0x1008,
  TCP_NODELAY = 1, TCP_MAXSEG = 2, TCP_NOPUSH = 4,
  IP_TOS = 3, IP_TTL = 4, IP_MULTICAST_TTL = 10, IP_MULTICAST_LOOP = 11,
  IPV6_UNICAST_HOPS = 4, IPV6_MULTICAST_HOPS = 10, IPV6_V6ONLY = 27,
  EINTR = 4, EAGAIN = 35, EWOULDBLOCK = 35, EINPROGRESS = 36,
  SOMAXCONN = 128,
  F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4, FD_CLOEXEC = 1,
  O_RDONLY = 0, O_NONBLOCK = 0x4,
  FIONREAD = 0x4004667f,
  POLLIN = 0x1, POLLPRI = 0x2, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20,
}

local flavours = {
  freebsd = {
    AF_INET6 = 28,
    SOCK_NONBLOCK = 0x20000000, SOCK_CLOEXEC = 0x10000000,
    AI_NUMERICSERV = 0x8,
    MSG_NOSIGNAL = 0x20000,
    SO_NOSIGPIPE = 0x800, SO_PROTOCOL = 0x1016, SO_DOMAIN = 0x1019,
    TCP_KEEPIDLE = 256, TCP_KEEPINTVL = 512, TCP_KEEPCNT = 1024, TCP_FASTOPEN = 1025,
    EOPNOTSUPP = 45,
    O_CLOEXEC = 0x100000,
    CLOCK_MONOTONIC = 4,
  },
  macos = {
    AF_INET6 = 30,
    AI_NUMERICSERV = 0x1000,
    SO_NOSIGPIPE = 0x1022,
    SO_LINGER_SEC = 0x1080, -- SO_LINGER counts clock ticks on macOS
    TCP_KEEPALIVE = 0x10, TCP_KEEPINTVL = 0x101, TCP_KEEPCNT = 0x102, TCP_FASTOPEN = 0x105,
    EOPNOTSUPP = 102,
    O_CLOEXEC = 0x1000000,
    CLOCK_MONOTONIC = 6,
  },
}

local function constants(name)
  local own = flavours[name]
  if not own then error('socket2.os.bsd: unknown flavour ' .. tostring(name), 2) end
  local K = {}
  for k, v in pairs(common) do K[k] = v end
  for k, v in pairs(own) do K[k] = v end
  return K
end

-- cdefs -------------------------------------------------------------------------

local cdef_common = [[
typedef uint32_t socklen_t;
typedef uint8_t sa_family_t;
struct sockaddr { uint8_t sa_len; sa_family_t sa_family; char sa_data[14]; };
struct sockaddr_in { uint8_t sin_len; sa_family_t sin_family; uint16_t sin_port;
                     uint8_t sin_addr[4]; uint8_t sin_zero[8]; };
struct sockaddr_in6 { uint8_t sin6_len; sa_family_t sin6_family; uint16_t sin6_port;
                      uint32_t sin6_flowinfo; uint8_t sin6_addr[16]; uint32_t sin6_scope_id; };
struct sockaddr_un { uint8_t sun_len; sa_family_t sun_family; char sun_path[104]; };
struct sockaddr_storage { uint8_t ss_len; sa_family_t ss_family; char ss_pad1[6];
                          int64_t ss_align; char ss_pad2[112]; };
struct addrinfo { int ai_flags; int ai_family; int ai_socktype; int ai_protocol;
                  socklen_t ai_addrlen; char *ai_canonname; struct sockaddr *ai_addr;
                  struct addrinfo *ai_next; };
struct linger { int l_onoff; int l_linger; };
struct timespec { long tv_sec; long tv_nsec; };
struct pollfd { int fd; short events; short revents; };

int accept(int fd, struct sockaddr *addr, socklen_t *len);
int poll(struct pollfd *fds, unsigned int nfds, int timeout);
]]

local cdef_flavour = {
  freebsd = [[
int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int sendfile(int fd, int s, int64_t offset, size_t nbytes, void *hdtr, int64_t *sbytes, int flags);
]],
  macos = [[
int sendfile(int fd, int s, int64_t offset, int64_t *len, void *hdtr, int flags);
]],
}

if mode == 'constants' then return constants(flavour) end
if mode == 'cdef' then
  ffi.cdef(cdef_common .. require'socket2.os.posix' .. cdef_flavour[flavour])
  return constants(flavour)
end

-- the OS module -------------------------------------------------------------------

-- LuaJIT says 'BSD' for every BSD; only FreeBSD's numbers are here
if ffi.os == 'BSD' then
  ffi.cdef'int uname(char *buf);'
  local buf = ffi.new('char[?]', 4096) -- struct utsname: sysname first
  local sys = ffi.C.uname(buf) == 0 and ffi.string(buf) or '?'
  if sys ~= 'FreeBSD' then
    error('socket2: no socket constants for ' .. sys .. ' (only macOS and FreeBSD)', 0)
  end
end
flavour = ffi.os == 'OSX' and 'macos' or 'freebsd'
local K = constants(flavour)
ffi.cdef(cdef_common .. require'socket2.os.posix' .. cdef_flavour[flavour])
local C = ffi.C
local bor, band = bit.bor, bit.band

local M = {C = C, name = 'bsd'}

M.AF = {unspec = K.AF_UNSPEC, unix = K.AF_UNIX, inet = K.AF_INET, inet6 = K.AF_INET6}
M.SOCK = {tcp = K.SOCK_STREAM, udp = K.SOCK_DGRAM, raw = K.SOCK_RAW,
          stream = K.SOCK_STREAM, dgram = K.SOCK_DGRAM, seqpacket = K.SOCK_SEQPACKET}
M.SOCK_NONBLOCK = K.SOCK_NONBLOCK or 0 -- macOS: none (socket() uses fcntl)
M.SOCK_CLOEXEC = K.SOCK_CLOEXEC or 0
M.IPPROTO = {ip = K.IPPROTO_IP, icmp = K.IPPROTO_ICMP, igmp = K.IPPROTO_IGMP,
             tcp = K.IPPROTO_TCP, udp = K.IPPROTO_UDP, ipv6 = K.IPPROTO_IPV6,
             icmpv6 = K.IPPROTO_ICMPV6, raw = K.IPPROTO_RAW}
M.AI = {passive = K.AI_PASSIVE, canonname = K.AI_CANONNAME, numerichost = K.AI_NUMERICHOST,
        v4mapped = K.AI_V4MAPPED, all = K.AI_ALL, addrconfig = K.AI_ADDRCONFIG,
        numericserv = K.AI_NUMERICSERV}
M.MSG = {oob = K.MSG_OOB, peek = K.MSG_PEEK, dontroute = K.MSG_DONTROUTE, eor = K.MSG_EOR,
         waitall = K.MSG_WAITALL, dontwait = K.MSG_DONTWAIT}
-- added to every send; macOS has none: its sockets get SO_NOSIGPIPE instead
M.MSG_NOSIGNAL = K.MSG_NOSIGNAL or 0
-- BSD's recv ignores MSG_TRUNC on input (only recvmsg reports a cut
-- datagram, in msg_flags): datagram truncation is not detected here
M.MSG_TRUNC = 0
M.SHUT = {r = K.SHUT_RD, w = K.SHUT_WR, rw = K.SHUT_RDWR}
M.NI = {numerichost = K.NI_NUMERICHOST, numericserv = K.NI_NUMERICSERV, nofqdn = K.NI_NOFQDN,
        namereqd = K.NI_NAMEREQD, dgram = K.NI_DGRAM}
M.SUN_PATH_MAX = 104
function M.if_nametoindex(name) return C.if_nametoindex(name) end
M.ABSTRACT_UNIX = false

local SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP, IPPROTO_IPV6 =
  K.SOL_SOCKET, K.IPPROTO_TCP, K.IPPROTO_IP, K.IPPROTO_IPV6
-- name -> {level, optname}, as in linux.lua; no 'quickack' on BSD
M.SOCKOPT = {
  acceptconn = {SOL_SOCKET, K.SO_ACCEPTCONN},
  broadcast  = {SOL_SOCKET, K.SO_BROADCAST},
  debug      = {SOL_SOCKET, K.SO_DEBUG},
  dontroute  = {SOL_SOCKET, K.SO_DONTROUTE},
  error      = {SOL_SOCKET, K.SO_ERROR},
  keepalive  = {SOL_SOCKET, K.SO_KEEPALIVE},
  linger     = {SOL_SOCKET, K.SO_LINGER_SEC or K.SO_LINGER}, -- in seconds
  oobinline  = {SOL_SOCKET, K.SO_OOBINLINE},
  rcvbuf     = {SOL_SOCKET, K.SO_RCVBUF},
  rcvlowat   = {SOL_SOCKET, K.SO_RCVLOWAT},
  reuseaddr  = {SOL_SOCKET, K.SO_REUSEADDR},
  reuseport  = {SOL_SOCKET, K.SO_REUSEPORT},
  sndbuf     = {SOL_SOCKET, K.SO_SNDBUF},
  sndlowat   = {SOL_SOCKET, K.SO_SNDLOWAT},
  type       = {SOL_SOCKET, K.SO_TYPE},
  nodelay    = {IPPROTO_TCP, K.TCP_NODELAY},
  maxseg     = {IPPROTO_TCP, K.TCP_MAXSEG},
  cork       = {IPPROTO_TCP, K.TCP_NOPUSH}, -- BSD's TCP_NOPUSH is Linux's TCP_CORK
  keepidle   = {IPPROTO_TCP, K.TCP_KEEPIDLE or K.TCP_KEEPALIVE},
  keepintvl  = {IPPROTO_TCP, K.TCP_KEEPINTVL},
  keepcnt    = {IPPROTO_TCP, K.TCP_KEEPCNT},
  fastopen   = {IPPROTO_TCP, K.TCP_FASTOPEN},
  ttl        = {IPPROTO_IP, K.IP_TTL},
  tos        = {IPPROTO_IP, K.IP_TOS},
  multicast_ttl  = {IPPROTO_IP, K.IP_MULTICAST_TTL},
  multicast_loop = {IPPROTO_IP, K.IP_MULTICAST_LOOP},
  v6only         = {IPPROTO_IPV6, K.IPV6_V6ONLY},
  unicast_hops   = {IPPROTO_IPV6, K.IPV6_UNICAST_HOPS},
  multicast_hops = {IPPROTO_IPV6, K.IPV6_MULTICAST_HOPS},
}

M.EAGAIN, M.EINPROGRESS, M.EINTR, M.EWOULDBLOCK = K.EAGAIN, K.EINPROGRESS, K.EINTR, K.EWOULDBLOCK

M.INVALID_FD = -1

function M.errno() return ffi.errno() end

local one = ffi.new('int[1]', 1)
local function nosigpipe(fd)
  return C.setsockopt(fd, SOL_SOCKET, K.SO_NOSIGPIPE, one, 4) == 0
end

local function set_fl(fd, get, set, flag, on)
  local fl = C.fcntl(fd, get)
  if fl < 0 then return false end
  fl = on and bor(fl, flag) or band(fl, bit.bnot(flag))
  return C.fcntl(fd, set, ffi.cast('int', fl)) == 0
end

-- macOS: what SOCK_NONBLOCK|SOCK_CLOEXEC and MSG_NOSIGNAL do elsewhere; -1
-- (errno kept) when it fails, and the fd is closed.
local function adopt(fd)
  if fd < 0 then return fd end
  if set_fl(fd, K.F_GETFL, K.F_SETFL, K.O_NONBLOCK, true)
    and set_fl(fd, K.F_GETFD, K.F_SETFD, K.FD_CLOEXEC, true) and nosigpipe(fd) then
    return fd
  end
  local e = ffi.errno()
  C.close(fd)
  ffi.errno(e)
  return -1
end

-- A new non-blocking, close-on-exec socket, or -1 (see errno()).
if K.SOCK_NONBLOCK then
  function M.socket(family, stype, protocol)
    return C.socket(family, bor(stype, K.SOCK_NONBLOCK, K.SOCK_CLOEXEC), protocol)
  end
  function M.accept(fd, sa, lenp)
    return C.accept4(fd, sa, lenp, K.SOCK_NONBLOCK + K.SOCK_CLOEXEC)
  end
else
  function M.socket(family, stype, protocol) return adopt(C.socket(family, stype, protocol)) end
  function M.accept(fd, sa, lenp) return adopt(C.accept(fd, sa, lenp)) end
end

function M.closesocket(fd) return C.close(fd) end

-- Also used by socket.wrap() to adopt a descriptor: on macOS it gets
-- SO_NOSIGPIPE too (sends never raise SIGPIPE).
function M.set_nonblocking(fd, on)
  if on and not K.MSG_NOSIGNAL then nosigpipe(fd) end
  return set_fl(fd, K.F_GETFL, K.F_SETFL, K.O_NONBLOCK, on)
end

M.SOMAXCONN = K.SOMAXCONN
M.LISTEN_REUSEADDR = true -- listen() sets SO_REUSEADDR: a restarted server rebinds at once

local pfd = ffi.new'struct pollfd'
local POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP = K.POLLIN, K.POLLPRI, K.POLLOUT, K.POLLERR, K.POLLHUP
-- Is fd readable ('r', urgent data included) or writable ('w') right now?
function M.ready_now(fd, dir)
  pfd.fd = fd
  pfd.events = dir == 'r' and POLLIN + POLLPRI or POLLOUT
  pfd.revents = 0
  if C.poll(pfd, 1, 0) <= 0 then return false end
  return band(pfd.revents, pfd.events + POLLERR + POLLHUP) ~= 0
end

-- socket.wrap(fd, 'fd'): any descriptor poll(2) takes can be waited on.
M.POLL_ANY_FD = true
function M.fd_valid(fd) return C.fcntl(fd, 1) >= 0 end -- F_GETFD

-- Readiness of many descriptors at once (socket.select): a struct
-- pollfd[n] (pollfds(n)), the event bits to ask, poll_now(p, n) = poll(2)
-- with timeout 0.
local POLLNVAL = K.POLLNVAL
M.pollfds = ffi.typeof'struct pollfd[?]'
M.POLL_R, M.POLL_W, M.POLL_FAIL = POLLIN + POLLPRI, POLLOUT, POLLERR + POLLHUP + POLLNVAL
function M.poll_now(p, n) return C.poll(p, n, 0) end

function M.atmark(fd) return C.sockatmark(fd) end

-- sendfile: bytes sent (>= 0) or -1 (see errno()); advances offp[0]. BSD
-- reports what a non-blocking call sent before EAGAIN in its out-parameter.
local sent_out = ffi.new'int64_t[1]'
if flavour == 'macos' then
  function M.sendfile(out_fd, in_fd, offp, count)
    sent_out[0] = count
    local r = C.sendfile(in_fd, out_fd, offp[0], sent_out, nil, 0)
    local n = tonumber(sent_out[0])
    if n > 0 then offp[0] = offp[0] + n; return n end
    return r == 0 and 0 or -1
  end
else
  function M.sendfile(out_fd, in_fd, offp, count)
    sent_out[0] = 0
    local r = C.sendfile(in_fd, out_fd, offp[0], count, nil, sent_out, 0)
    local n = tonumber(sent_out[0])
    if n > 0 then offp[0] = offp[0] + n; return n end
    return r == 0 and 0 or -1
  end
end

function M.open_read(path) return C.open(path, K.O_RDONLY + K.O_CLOEXEC) end
function M.close_file(fd) return C.close(fd) end

-- Is a unix socket in this system bound to path? Linux reads /proc/net/unix;
-- BSD has no such list short of parsing the net.local.*.pcblist sysctls, so
-- this says no and bind() relies on the connect()/open() test alone: a
-- socket bound but not yet listening in another process can pass as stale.
function M.unix_path_bound() return false end
-- what open() of a socket file fails with (socket.lua's stale unix socket
-- check): EOPNOTSUPP on BSD, where Linux says ENXIO
M.E_OPEN_SOCKET_FILE = K.EOPNOTSUPP

local nread_out = ffi.new'int[1]'
function M.nread(fd)
  if C.ioctl(fd, K.FIONREAD, nread_out) ~= 0 then return nil end
  return nread_out[0]
end

-- The kind of a wrapped fd: family, type, protocol. macOS has no SO_DOMAIN
-- or SO_PROTOCOL: the family comes from getsockname, the protocol from the
-- type.
local info_v, info_len = ffi.new'int[1]', ffi.new'socklen_t[1]'
local info_ss = ffi.new'struct sockaddr_storage'
local function getopt(fd, opt)
  info_len[0] = 4
  if C.getsockopt(fd, SOL_SOCKET, opt, info_v, info_len) ~= 0 then return nil end
  return info_v[0]
end
function M.socket_info(fd)
  local stype = getopt(fd, K.SO_TYPE)
  if K.SO_DOMAIN then return getopt(fd, K.SO_DOMAIN), stype, getopt(fd, K.SO_PROTOCOL) end
  info_len[0] = ffi.sizeof(info_ss)
  if not stype or C.getsockname(fd, ffi.cast('struct sockaddr*', info_ss), info_len) ~= 0 then
    return nil
  end
  local family = info_ss.ss_family
  local proto = 0
  if family == K.AF_INET or family == K.AF_INET6 then
    proto = stype == K.SOCK_STREAM and K.IPPROTO_TCP or stype == K.SOCK_DGRAM and K.IPPROTO_UDP or 0
  end
  return family, stype, proto
end

-- sockaddr family/length helpers: BSD sockaddrs carry their length.
function M.sa_family(sa) return ffi.cast('struct sockaddr*', sa).sa_family end
function M.sa_set_family(sa, family, len)
  local p = ffi.cast('struct sockaddr*', sa)
  p.sa_len = len
  p.sa_family = family
end

local ts = ffi.new'struct timespec'
function M.clock()
  C.clock_gettime(K.CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

return M

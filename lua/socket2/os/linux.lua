-- socket2/os/linux.lua: the Linux socket ABI. Every os/*.lua file exports
-- the same keys (spec/unit/shim_spec.lua checks it), so the rest of socket2 never
-- asks which OS it runs on.
local ffi = require'ffi'
local bit = require'bit'
local C = ffi.C

ffi.cdef([[
typedef uint32_t socklen_t;
typedef unsigned short sa_family_t;
struct sockaddr { sa_family_t sa_family; char sa_data[14]; };
struct sockaddr_in { sa_family_t sin_family; uint16_t sin_port; uint8_t sin_addr[4]; uint8_t sin_zero[8]; };
struct sockaddr_in6 { sa_family_t sin6_family; uint16_t sin6_port; uint32_t sin6_flowinfo;
                      uint8_t sin6_addr[16]; uint32_t sin6_scope_id; };
struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; };
struct sockaddr_storage { sa_family_t ss_family; char ss_pad[118]; uint64_t ss_align; };
struct addrinfo { int ai_flags; int ai_family; int ai_socktype; int ai_protocol;
                  socklen_t ai_addrlen; struct sockaddr *ai_addr; char *ai_canonname;
                  struct addrinfo *ai_next; };
struct linger { int l_onoff; int l_linger; };
struct timespec { long tv_sec; long tv_nsec; };

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
intptr_t sendfile(int out_fd, int in_fd, int64_t *offset, size_t count);
struct pollfd { int fd; short events; short revents; };
int poll(struct pollfd *fds, unsigned long nfds, int timeout);
]] .. require'socket2.os.posix')

local M = {C = C, name = 'linux'}

M.AF = {unspec = 0, unix = 1, inet = 2, inet6 = 10}
M.SOCK = {tcp = 1, udp = 2, raw = 3, stream = 1, dgram = 2, seqpacket = 5}
M.SOCK_NONBLOCK = 0x800
M.SOCK_CLOEXEC = 0x80000
M.IPPROTO = {ip = 0, icmp = 1, igmp = 2, tcp = 6, udp = 17, ipv6 = 41, icmpv6 = 58, raw = 255}
M.AI = {passive = 0x1, canonname = 0x2, numerichost = 0x4, v4mapped = 0x8, all = 0x10,
        addrconfig = 0x20, numericserv = 0x400}
M.MSG = {oob = 0x1, peek = 0x2, dontroute = 0x4, eor = 0x80, waitall = 0x100, dontwait = 0x40}
M.MSG_NOSIGNAL = 0x4000 -- added to every send: a closed peer is EPIPE, not SIGPIPE
-- added to every datagram receive: it then returns the datagram's real size,
-- so a datagram cut to fit the buffer is reported (not silently cut)
M.MSG_TRUNC = 0x20
M.SHUT = {r = 0, w = 1, rw = 2}
M.NI = {numerichost = 1, numericserv = 2, nofqdn = 4, namereqd = 8, dgram = 16}
M.SUN_PATH_MAX = 108
function M.if_nametoindex(name) return C.if_nametoindex(name) end
M.ABSTRACT_UNIX = true -- '\0name' paths live in the abstract namespace

local SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP, IPPROTO_IPV6 = 1, 6, 0, 41
-- name -> {level, optname}; what kind of value each takes is the same on
-- every OS (socket.lua)
M.SOCKOPT = {
  acceptconn = {SOL_SOCKET, 30},
  broadcast  = {SOL_SOCKET, 6},
  debug      = {SOL_SOCKET, 1},
  dontroute  = {SOL_SOCKET, 5},
  error      = {SOL_SOCKET, 4},
  keepalive  = {SOL_SOCKET, 9},
  linger     = {SOL_SOCKET, 13},
  oobinline  = {SOL_SOCKET, 10},
  rcvbuf     = {SOL_SOCKET, 8},
  rcvlowat   = {SOL_SOCKET, 18},
  reuseaddr  = {SOL_SOCKET, 2},
  reuseport  = {SOL_SOCKET, 15},
  sndbuf     = {SOL_SOCKET, 7},
  sndlowat   = {SOL_SOCKET, 19},
  type       = {SOL_SOCKET, 3},
  nodelay    = {IPPROTO_TCP, 1},
  maxseg     = {IPPROTO_TCP, 2},
  cork       = {IPPROTO_TCP, 3},
  keepidle   = {IPPROTO_TCP, 4},
  keepintvl  = {IPPROTO_TCP, 5},
  keepcnt    = {IPPROTO_TCP, 6},
  quickack   = {IPPROTO_TCP, 12},
  fastopen   = {IPPROTO_TCP, 23},
  ttl        = {IPPROTO_IP, 2},
  tos        = {IPPROTO_IP, 1},
  multicast_ttl  = {IPPROTO_IP, 33},
  multicast_loop = {IPPROTO_IP, 34},
  v6only         = {IPPROTO_IPV6, 26},
  unicast_hops   = {IPPROTO_IPV6, 16},
  multicast_hops = {IPPROTO_IPV6, 18},
}

-- errno values the Lua layer tests itself; everything else is mapped to a
-- portable name by the shim (s2_from_oserror), from one table.
M.EAGAIN, M.EINPROGRESS, M.EINTR, M.EWOULDBLOCK = 11, 115, 4, 11

M.INVALID_FD = -1

function M.errno() return ffi.errno() end

-- A new non-blocking, close-on-exec socket, or -1 (see errno()).
function M.socket(family, stype, protocol)
  return C.socket(family, bit.bor(stype, M.SOCK_NONBLOCK, M.SOCK_CLOEXEC), protocol)
end

function M.accept(fd, sa, lenp)
  return C.accept4(fd, sa, lenp, M.SOCK_NONBLOCK + M.SOCK_CLOEXEC)
end

function M.closesocket(fd) return C.close(fd) end

local F_GETFL, F_SETFL, O_NONBLOCK = 3, 4, 0x800
function M.set_nonblocking(fd, on)
  local fl = C.fcntl(fd, F_GETFL)
  if fl < 0 then return false end
  fl = on and bit.bor(fl, O_NONBLOCK) or bit.band(fl, bit.bnot(O_NONBLOCK))
  return C.fcntl(fd, F_SETFL, ffi.cast('int', fl)) == 0
end

M.SOMAXCONN = 4096
M.LISTEN_REUSEADDR = true -- listen() sets SO_REUSEADDR: a restarted server rebinds at once

-- Is fd readable ('r') or writable ('w') right now? (poll with timeout 0)
local pfd = ffi.new'struct pollfd'
local POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP = 1, 2, 4, 8, 16
function M.ready_now(fd, dir)
  pfd.fd = fd
  pfd.events = dir == 'r' and POLLIN + POLLPRI or POLLOUT
  pfd.revents = 0
  if C.poll(pfd, 1, 0) <= 0 then return false end
  return bit.band(pfd.revents, pfd.events + POLLERR + POLLHUP) ~= 0
end

-- socket.wrap(fd, 'fd'): any descriptor poll(2) takes can be waited on.
M.POLL_ANY_FD = true
function M.fd_valid(fd) return C.fcntl(fd, 1) >= 0 end -- F_GETFD

-- Readiness of many descriptors at once (socket.select): a struct
-- pollfd[n] (pollfds(n)), the event bits to ask, poll_now(p, n) = poll(2)
-- with timeout 0.
local POLLNVAL = 32
M.pollfds = ffi.typeof'struct pollfd[?]'
M.POLL_R, M.POLL_W, M.POLL_FAIL = POLLIN + POLLPRI, POLLOUT, POLLERR + POLLHUP + POLLNVAL
function M.poll_now(p, n) return C.poll(p, n, 0) end

function M.atmark(fd) return C.sockatmark(fd) end

-- sendfile: bytes sent (>= 0) or -1 (see errno()); advances offp[0].
function M.sendfile(out_fd, in_fd, offp, count)
  return tonumber(C.sendfile(out_fd, in_fd, offp, count))
end

local O_RDONLY, O_CLOEXEC = 0, 0x80000
function M.open_read(path) return C.open(path, O_RDONLY + O_CLOEXEC) end
function M.close_file(fd) return C.close(fd) end

-- Is a unix socket in this system bound to path? (/proc/net/unix lists
-- every bound unix socket; a stale socket file is not among them.)
function M.unix_path_bound(path)
  local f = io.open('/proc/net/unix', 'r')
  if not f then return false end
  local suffix = ' ' .. path
  for line in f:lines() do
    if line:sub(-#suffix) == suffix then f:close(); return true end
  end
  f:close()
  return false
end
M.E_OPEN_SOCKET_FILE = 6 -- ENXIO: what open() says of a socket file

local FIONREAD = 0x541B
local nread_out = ffi.new'int[1]'
function M.nread(fd)
  if C.ioctl(fd, FIONREAD, nread_out) ~= 0 then return nil end
  return nread_out[0]
end

-- The kind of a wrapped fd, from SO_TYPE / SO_DOMAIN.
local SO_DOMAIN, SO_PROTOCOL = 39, 38
function M.socket_info(fd)
  local v, len = ffi.new'int[1]', ffi.new'socklen_t[1]'
  local function get(opt)
    len[0] = 4
    if C.getsockopt(fd, SOL_SOCKET, opt, v, len) ~= 0 then return nil end
    return v[0]
  end
  return get(SO_DOMAIN), get(3), get(SO_PROTOCOL)
end

-- sockaddr family/length helpers (BSD has sa_len; Linux does not).
function M.sa_family(sa) return ffi.cast('struct sockaddr*', sa).sa_family end
function M.sa_set_family(sa, family, len) ffi.cast('struct sockaddr*', sa).sa_family = family end

local CLOCK_MONOTONIC = 1
local ts = ffi.new'struct timespec'
function M.clock()
  C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

return M

-- socket2/os/windows.lua: the Winsock ABI (ws2_32). Every os/*.lua file
-- exports the same keys (spec/unit/shim_spec.lua checks it), so the rest of
-- socket2 never asks which OS it runs on. Sockets are Winsock SOCKETs
-- (pointer-sized handles) kept in Lua as plain numbers; they are created
-- overlapped (for IOCP), non-blocking and not inherited.
local ffi = require'ffi'
local bit = require'bit'

ffi.cdef[[
typedef uintptr_t SOCKET;
typedef int socklen_t;
typedef unsigned short sa_family_t;
struct sockaddr { sa_family_t sa_family; char sa_data[14]; };
struct sockaddr_in { sa_family_t sin_family; uint16_t sin_port; uint8_t sin_addr[4]; uint8_t sin_zero[8]; };
struct sockaddr_in6 { sa_family_t sin6_family; uint16_t sin6_port; uint32_t sin6_flowinfo;
                      uint8_t sin6_addr[16]; uint32_t sin6_scope_id; };
struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; };
struct sockaddr_storage { sa_family_t ss_family; char ss_pad[118]; uint64_t ss_align; };
/* ai_addrlen is a size_t on Windows; its low half (little-endian) is
   declared as the length so that Lua reads a plain number, as on POSIX */
struct addrinfo { int ai_flags; int ai_family; int ai_socktype; int ai_protocol;
                  socklen_t ai_addrlen; uint32_t ai_addrlen_hi; char *ai_canonname;
                  struct sockaddr *ai_addr; struct addrinfo *ai_next; };
struct linger { unsigned short l_onoff; unsigned short l_linger; };
struct WSAPOLLFD { SOCKET fd; short events; short revents; };
typedef struct { uint32_t d1; uint16_t d2, d3; uint8_t d4[8]; } s2w_GUID;
typedef struct {
  uint32_t dwServiceFlags[4]; uint32_t dwProviderFlags; s2w_GUID ProviderId;
  uint32_t dwCatalogEntryId; int ChainLen; uint32_t ChainEntries[7];
  int iVersion, iAddressFamily, iMaxSockAddr, iMinSockAddr, iSocketType, iProtocol,
      iProtocolMaxOffset, iNetworkByteOrder, iSecurityScheme;
  uint32_t dwMessageSize, dwProviderReserved; uint16_t szProtocol[256];
} s2w_WSAPROTOCOL_INFOW;

int WSAStartup(uint16_t version, void *data);
int WSAGetLastError(void);
void WSASetLastError(int err);
SOCKET WSASocketW(int af, int type, int protocol, void *info, unsigned g, uint32_t flags);
int closesocket(SOCKET s);
int ioctlsocket(SOCKET s, long cmd, uint32_t *arg);
int WSAIoctl(SOCKET s, uint32_t code, void *in, uint32_t inlen, void *out, uint32_t outlen,
             uint32_t *got, void *ov, void *completion);
int WSAPoll(struct WSAPOLLFD *fds, unsigned long n, int timeout);
int bind(SOCKET s, const struct sockaddr *addr, socklen_t len);
int listen(SOCKET s, int backlog);
SOCKET accept(SOCKET s, struct sockaddr *addr, socklen_t *len);
int connect(SOCKET s, const struct sockaddr *addr, socklen_t len);
int send(SOCKET s, const void *buf, int n, int flags);
int recv(SOCKET s, void *buf, int n, int flags);
int sendto(SOCKET s, const void *buf, int n, int flags, const struct sockaddr *addr, socklen_t len);
int recvfrom(SOCKET s, void *buf, int n, int flags, struct sockaddr *addr, socklen_t *len);
int shutdown(SOCKET s, int how);
int getsockopt(SOCKET s, int level, int name, void *val, socklen_t *len);
int setsockopt(SOCKET s, int level, int name, const void *val, socklen_t len);
int getsockname(SOCKET s, struct sockaddr *addr, socklen_t *len);
int getpeername(SOCKET s, struct sockaddr *addr, socklen_t *len);
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);
void freeaddrinfo(struct addrinfo *res);
int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, uint32_t hostlen,
                char *serv, uint32_t servlen, int flags);
const char *inet_ntop(int af, const void *src, char *dst, size_t size);
int inet_pton(int af, const char *src, void *dst);
int QueryPerformanceCounter(int64_t *count);
int QueryPerformanceFrequency(int64_t *freq);
unsigned int if_nametoindex(const char *name);
int _open(const char *path, int flags, ...);
int _close(int fd);
int _read(int fd, void *buf, unsigned int n);
int64_t _lseeki64(int fd, int64_t off, int whence);
]]

local ws2 = ffi.load'ws2_32'
local K = ffi.load'kernel32'
local CRT = ffi.load'msvcrt' -- the C runtime (files for sendfile)

local M = {C = ws2, name = 'windows'}

do
  local data = ffi.new'uint8_t[512]' -- WSADATA, not read
  local rc = ws2.WSAStartup(0x0202, data)
  if rc ~= 0 then error('socket2: WSAStartup failed: ' .. rc, 0) end
end

M.AF = {unspec = 0, unix = 1, inet = 2, inet6 = 23}
M.SOCK = {tcp = 1, udp = 2, raw = 3, stream = 1, dgram = 2, seqpacket = 5}
M.SOCK_NONBLOCK = 0 -- no type flags: see M.socket
M.SOCK_CLOEXEC = 0
M.IPPROTO = {ip = 0, icmp = 1, igmp = 2, tcp = 6, udp = 17, ipv6 = 41, icmpv6 = 58, raw = 255}
M.AI = {passive = 0x1, canonname = 0x2, numerichost = 0x4, numericserv = 0x8, all = 0x100,
        addrconfig = 0x400, v4mapped = 0x800}
-- dontwait = 0: every socket is non-blocking (FIONBIO), so a plain call never
-- waits; there is no per-call flag for it
M.MSG = {oob = 0x1, peek = 0x2, dontroute = 0x4, waitall = 0x8, dontwait = 0}
M.MSG_NOSIGNAL = 0 -- Windows has no SIGPIPE: a closed peer is an error return
M.SHUT = {r = 0, w = 1, rw = 2}
M.NI = {numerichost = 2, numericserv = 8, nofqdn = 1, namereqd = 4, dgram = 16}
M.SUN_PATH_MAX = 108
-- the namespace stays referenced: once it is collected LuaJIT unloads the
-- DLL, and a function taken from it alone then points into freed memory
local iphlpapi = ffi.load'iphlpapi'
function M.if_nametoindex(name) return iphlpapi.if_nametoindex(name) end
M.ABSTRACT_UNIX = false -- AF_UNIX exists (Windows 10 1803+), abstract names do not

local SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP, IPPROTO_IPV6 = 0xffff, 6, 0, 41
-- name -> {level, optname}; what kind of value each takes is the same on
-- every OS (socket.lua).
-- Linux-only options (reuseport, cork, quickack, ...) are absent: asking
-- for them is the same 'unknown option' error as for any unknown name.
M.SOCKOPT = {
  acceptconn = {SOL_SOCKET, 0x0002},
  broadcast  = {SOL_SOCKET, 0x0020},
  debug      = {SOL_SOCKET, 0x0001},
  dontroute  = {SOL_SOCKET, 0x0010},
  error      = {SOL_SOCKET, 0x1007},
  keepalive  = {SOL_SOCKET, 0x0008},
  linger     = {SOL_SOCKET, 0x0080},
  oobinline  = {SOL_SOCKET, 0x0100},
  rcvbuf     = {SOL_SOCKET, 0x1002},
  rcvlowat   = {SOL_SOCKET, 0x1004},
  reuseaddr  = {SOL_SOCKET, 0x0004},
  sndbuf     = {SOL_SOCKET, 0x1001},
  sndlowat   = {SOL_SOCKET, 0x1003},
  type       = {SOL_SOCKET, 0x1008},
  nodelay    = {IPPROTO_TCP, 1},
  maxseg     = {IPPROTO_TCP, 4},
  keepidle   = {IPPROTO_TCP, 3},
  keepintvl  = {IPPROTO_TCP, 17},
  keepcnt    = {IPPROTO_TCP, 16},
  fastopen   = {IPPROTO_TCP, 15},
  ttl        = {IPPROTO_IP, 4},
  tos        = {IPPROTO_IP, 3},
  multicast_ttl  = {IPPROTO_IP, 10},
  multicast_loop = {IPPROTO_IP, 11},
  v6only         = {IPPROTO_IPV6, 27},
  unicast_hops   = {IPPROTO_IPV6, 4},
  multicast_hops = {IPPROTO_IPV6, 10},
}

-- WSA error numbers the Lua layer tests itself; everything else is mapped
-- to a portable name by the shim (s2_from_oserror), from one table.
M.EAGAIN, M.EINPROGRESS, M.EINTR, M.EWOULDBLOCK = 10035, 10036, 10004, 10035

-- a datagram cut to fit the buffer fails with WSAEMSGSIZE instead
M.MSG_TRUNC = 0
M.INVALID_FD = -1

function M.errno() return ws2.WSAGetLastError() end

-- ~0 (a -1 double cast to an unsigned 64-bit type saturates at 2^63)
local INVALID_SOCKET = ffi.cast('SOCKET', ffi.cast('intptr_t', -1))
local WSA_FLAG_OVERLAPPED, WSA_FLAG_NO_HANDLE_INHERIT = 0x01, 0x80
local FIONBIO, FIONREAD = -2147195266, 0x4004667f
local SIO_UDP_CONNRESET = 0x9800000C
local u32, got = ffi.new'uint32_t[1]', ffi.new'uint32_t[1]'

local function nonblocking(s, on)
  u32[0] = on and 1 or 0
  return ws2.ioctlsocket(s, FIONBIO, u32) == 0
end
M.set_nonblocking = nonblocking

-- A SOCKET cdata -> a number, or INVALID_FD.
local function num(s)
  if s == INVALID_SOCKET then return M.INVALID_FD end
  return tonumber(s)
end

-- A new overlapped, non-blocking, non-inherited socket, or INVALID_FD (see
-- errno()). A udp socket does not turn an ICMP port-unreachable into a
-- failure of its next receive (POSIX behaviour; Windows' default differs).
function M.socket(family, stype, protocol)
  local s = num(ws2.WSASocketW(family, stype, protocol, nil, 0,
    WSA_FLAG_OVERLAPPED + WSA_FLAG_NO_HANDLE_INHERIT))
  if s == M.INVALID_FD then return s end
  if not nonblocking(s, true) then
    local e = ws2.WSAGetLastError()
    ws2.closesocket(s)
    ws2.WSASetLastError(e)
    return M.INVALID_FD
  end
  if stype == M.SOCK.dgram and family ~= M.AF.unix then
    u32[0] = 0
    ws2.WSAIoctl(s, SIO_UDP_CONNRESET, u32, 4, nil, 0, got, nil, nil)
  end
  return s
end

-- A synchronous non-blocking accept (the IOCP path uses AcceptEx instead).
function M.accept(fd, sa, lenp)
  local s = num(ws2.accept(fd, sa, lenp))
  if s ~= M.INVALID_FD then nonblocking(s, true) end
  return s
end

function M.closesocket(fd) return ws2.closesocket(fd) end

M.SOMAXCONN = 0x7fffffff
-- Windows' SO_REUSEADDR lets a second socket bind a port in use (even one
-- listening); a listener needs no option to rebind (no TIME_WAIT issue)
M.LISTEN_REUSEADDR = false

-- Is fd readable ('r') or writable ('w') right now? (WSAPoll, timeout 0)
local pfd = ffi.new'struct WSAPOLLFD'
local POLLIN, POLLOUT, POLLERR, POLLHUP = 0x300, 0x10, 0x1, 0x2
function M.ready_now(fd, dir)
  pfd.fd = fd
  pfd.events = dir == 'r' and POLLIN or POLLOUT
  pfd.revents = 0
  if ws2.WSAPoll(pfd, 1, 0) <= 0 then return false end
  return bit.band(pfd.revents, pfd.events + POLLERR + POLLHUP) ~= 0
end

-- socket.wrap(fd, 'fd'): Windows can wait on sockets only.
M.POLL_ANY_FD = false
function M.fd_valid(fd) return M.socket_info(fd) ~= nil end

-- Readiness of many sockets at once (socket.select): a struct
-- WSAPOLLFD[n] (pollfds(n)), the event bits to ask, poll_now(p, n) =
-- WSAPoll with timeout 0.
M.pollfds = ffi.typeof'struct WSAPOLLFD[?]'
M.POLL_R, M.POLL_W, M.POLL_FAIL = POLLIN, POLLOUT, POLLERR + POLLHUP + 0x4 -- POLLNVAL
function M.poll_now(p, n) return ws2.WSAPoll(p, n, 0) end

-- sockatmark: Windows' SIOCATMARK only tells whether urgent data is still
-- to be read (then the read position is taken to be at the mark).
local SIOCATMARK = 0x40047307
M.atmark = function(fd)
  if ws2.ioctlsocket(fd, SIOCATMARK, u32) ~= 0 then return -1 end
  return u32[0] == 0 and 1 or 0
end

-- Files, for sendfile: the C runtime's descriptors. Windows' TransmitFile
-- wants a file HANDLE and an overlapped socket call; socket2 reads the file
-- and sends what it read instead: bytes sent, or -1 (see errno()).
local O_RDONLY, O_BINARY, O_NOINHERIT = 0, 0x8000, 0x80
function M.open_read(path) return CRT._open(path, O_RDONLY + O_BINARY + O_NOINHERIT) end
M.close_file = CRT._close
local FILEBUF = 65536
local filebuf = ffi.new('uint8_t[?]', FILEBUF)
function M.sendfile(out_fd, in_fd, offp, count)
  if CRT._lseeki64(in_fd, offp[0], 0) < 0 then return -1 end
  local n = CRT._read(in_fd, filebuf, math.min(count, FILEBUF))
  if n <= 0 then return n end
  local sent = ws2.send(out_fd, filebuf, n, 0)
  if sent < 0 then return -1 end
  offp[0] = offp[0] + sent
  return sent
end
M.E_OPEN_SOCKET_FILE = 6 -- (never reached: no unix socket files under Wine)

-- Is a unix socket bound to path? Windows keeps no list to ask.
function M.unix_path_bound(path) return false end

function M.nread(fd)
  if ws2.ioctlsocket(fd, FIONREAD, u32) ~= 0 then return nil end
  return tonumber(u32[0])
end

-- The kind of a wrapped socket, from SO_PROTOCOL_INFOW.
local SO_PROTOCOL_INFOW = 0x2005
function M.socket_info(fd)
  local pi = ffi.new's2w_WSAPROTOCOL_INFOW'
  local len = ffi.new('socklen_t[1]', ffi.sizeof(pi))
  if ws2.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL_INFOW, pi, len) ~= 0 then return nil end
  return pi.iAddressFamily, pi.iSocketType, pi.iProtocol
end

function M.sa_family(sa) return ffi.cast('struct sockaddr*', sa).sa_family end
function M.sa_set_family(sa, family, len) ffi.cast('struct sockaddr*', sa).sa_family = family end

local count = ffi.new'int64_t[1]'
K.QueryPerformanceFrequency(count)
local tick = 1 / tonumber(count[0])
function M.clock()
  K.QueryPerformanceCounter(count)
  return tonumber(count[0]) * tick
end

return M

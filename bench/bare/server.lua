-- bench/bare/server.lua WORKLOAD: the floor for any LuaJIT socket library.
-- The same bench/app.lua code as the socket2 server, on raw edge-triggered
-- epoll called through the FFI, one coroutine per connection, and nothing
-- else: no slots, no generations, no run queue, no timers, no argument
-- checks. It follows socket2's syscall rules (try the syscall first,
-- register with epoll on the first EAGAIN, a short read/write means
-- drained/full), so what socket2 costs above it is library overhead.
local ffi = require'ffi'
local bit = require'bit'
local app = require'app'

ffi.cdef[[
typedef union { void *ptr; int fd; uint32_t u32; uint64_t u64; } bare_epoll_data;
struct epoll_event { uint32_t events; bare_epoll_data data; } __attribute__((packed));
int epoll_create1(int flags);
int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout);
typedef uint32_t socklen_t;
struct sockaddr_in { uint16_t sin_family; uint16_t sin_port; uint32_t sin_addr; uint8_t sin_zero[8]; };
int socket(int domain, int type, int protocol);
int setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int bind(int fd, const struct sockaddr_in *addr, socklen_t len);
int listen(int fd, int backlog);
int getsockname(int fd, struct sockaddr_in *addr, socklen_t *len);
int accept4(int fd, void *addr, void *len, int flags);
int recv(int fd, void *buf, size_t n, int flags);
int send(int fd, const void *buf, size_t n, int flags);
int close(int fd);
]]
local C = ffi.C
local band = bit.band
local errno = ffi.errno
local co_create, co_resume, co_yield = coroutine.create, coroutine.resume, coroutine.yield

local kind = app.args(arg)

local EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP = 0x1, 0x4, 0x8, 0x10, 0x2000
local EPOLLET = 0x80000000
local RMASK = EPOLLIN + EPOLLERR + EPOLLHUP + EPOLLRDHUP
local HUPMASK = EPOLLERR + EPOLLHUP + EPOLLRDHUP
local WMASK = EPOLLOUT + EPOLLERR + EPOLLHUP
local EAGAIN, EINTR = 11, 4
local SOCK_NONBLOCK_CLOEXEC = 0x800 + 0x80000
local MSG_NOSIGNAL = 0x4000

local epfd = C.epoll_create1(0x80000)
assert(epfd >= 0)
local EVMAX = 512
local evs = ffi.new('struct epoll_event[?]', EVMAX)
local ev1 = ffi.new'struct epoll_event'

local conns = {} -- fd -> conn

local function check(co, ok, err)
  if not ok then
    io.stderr:write(debug.traceback(co, tostring(err)), '\n')
    os.exit(1)
  end
end

-- a connection ------------------------------------------------------------------

local Conn = {}
Conn.__index = Conn

local function new_conn(fd)
  local c = setmetatable({fd = fd, rready = true, wready = true, hup = false,
                          watched = false, rwait = false, wwait = false, co = false}, Conn)
  conns[fd] = c
  return c
end

local function watch(c)
  ev1.events = EPOLLIN + EPOLLOUT + EPOLLRDHUP + EPOLLET
  ev1.data.u64 = c.fd
  assert(C.epoll_ctl(epfd, 1, c.fd, ev1) == 0)
  c.watched = true
end

function Conn:recv(buf, len)
  local fd = self.fd
  while true do
    if self.rready then
      local n = C.recv(fd, buf, len, 0)
      if n >= 0 then
        if n < len and n > 0 and not self.hup then self.rready = false end
        return n
      end
      local e = errno()
      if e == EAGAIN then self.rready = false
      elseif e ~= EINTR then return nil end
    else
      if not self.watched then watch(self) end
      self.rwait = true
      co_yield()
    end
  end
end

function Conn:sendall(buf, len)
  local fd = self.fd
  local sent = 0
  while sent < len do
    if self.wready then
      local n = C.send(fd, sent == 0 and buf or buf + sent, len - sent, MSG_NOSIGNAL)
      if n >= 0 then
        sent = sent + n
        if sent < len then self.wready = false end
      else
        local e = errno()
        if e == EAGAIN then self.wready = false
        elseif e ~= EINTR then return nil end
      end
    else
      if not self.watched then watch(self) end
      self.wwait = true
      co_yield()
    end
  end
  return len
end

function Conn:close()
  conns[self.fd] = nil
  C.close(self.fd)
end

-- bulk only
local chunk = ffi.new('uint8_t[?]', app.CHUNK)
function Conn:discard(len) return self:recv(chunk, len) end
function Conn:send_chunk(len) return self:sendall(chunk, len) end

-- the listener ------------------------------------------------------------------

local lfd = C.socket(2, 1 + SOCK_NONBLOCK_CLOEXEC, 0)
local one = ffi.new('int[1]', 1)
C.setsockopt(lfd, 1, 2, one, 4) -- SO_REUSEADDR
local sa = ffi.new'struct sockaddr_in'
sa.sin_family = 2
sa.sin_addr = 0x0100007f -- 127.0.0.1, network order
assert(C.bind(lfd, sa, ffi.sizeof(sa)) == 0)
assert(C.listen(lfd, 4096) == 0)
local salen = ffi.new('socklen_t[1]', ffi.sizeof(sa))
C.getsockname(lfd, sa, salen)
local port = bit.rshift(bit.bswap(sa.sin_port), 16)

local serve = kind == 'bulk' and app.bulk_serve or app.serve

local listener = new_conn(lfd)
-- At most ACCEPTS connections per loop turn, as socket2's fairness budget:
-- an accept loop that runs until EAGAIN under a flood of connections never
-- lets the loop deliver the other connections' events (their closes wait).
local ACCEPTS = 64
listener.co = co_create(function()
  local taken = 0
  while true do
    if listener.rready and taken < ACCEPTS then
      taken = taken + 1 -- (a failure counts too: EMFILE must not spin)
      local fd = C.accept4(lfd, nil, nil, SOCK_NONBLOCK_CLOEXEC)
      if fd >= 0 then
        local c = new_conn(fd)
        local co = co_create(serve)
        c.co = co
        check(co, co_resume(co, c, kind))
      elseif errno() == EAGAIN then
        listener.rready = false
      end
    elseif listener.rready then -- the turn's share taken: again after the next wait
      listener.more = true
      taken = 0
      co_yield()
    else
      taken = 0
      if not listener.watched then watch(listener) end
      listener.rwait = true
      co_yield()
    end
  end
end)
check(listener.co, co_resume(listener.co))

app.ready(port)

-- the loop ------------------------------------------------------------------------

while true do
  local n = C.epoll_wait(epfd, evs, EVMAX, listener.more and 0 or -1)
  for i = 0, n - 1 do
    local e = evs[i]
    local c = conns[tonumber(e.data.u32)]
    if c then
      local f = e.events
      if band(f, RMASK) ~= 0 then
        c.rready = true
        if band(f, HUPMASK) ~= 0 then c.hup = true end
        if c.rwait then
          c.rwait = false
          check(c.co, co_resume(c.co))
        end
      end
      if band(f, WMASK) ~= 0 then
        c.wready = true
        if c.wwait then
          c.wwait = false
          check(c.co, co_resume(c.co))
        end
      end
    end
  end
  if listener.more then
    listener.more = false
    check(listener.co, co_resume(listener.co))
  end
end

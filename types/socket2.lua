---@meta socket2
-- LuaLS (lua-language-server) annotations for socket2's public API.
-- Add this folder to "workspace.library" in .luarc.json to get completion
-- and type checks; it is never loaded at run time.

---@alias socket2.family 'inet'|'inet6'|'unix'|'unspec'
---@alias socket2.type 'tcp'|'udp'|'raw'|'stream'|'dgram'|'seqpacket'
---@alias socket2.buffer ffi.cdata*
---@alias socket2.errcode string portable error code: 'ECONNREFUSED', 'ETIMEDOUT', 'EOF', ...

---@class socket2.sockaddr: ffi.cdata*
---@field len integer
local sa = {}
---@return socket2.family
function sa:family() end
---@return integer?
function sa:port() end
---@return string? ip or unix path
function sa:ip() end
---@return string
function sa:tostring() end
---@return ffi.cdata* typed sockaddr_in*/_in6*/_un*
function sa:addr() end
---@return socket2.sockaddr
function sa:copy() end

---@class socket2.addrinfo: ffi.cdata*
---@field addr ffi.cdata* struct sockaddr*
---@field addrlen integer
local ai = {}
function ai:free() end
---@return socket2.addrinfo?
function ai:next() end
---@return fun(): socket2.addrinfo?
function ai:addrs() end
---@return string
function ai:type() end
---@return socket2.family
function ai:family() end
---@return string
function ai:protocol() end
---@return string?
function ai:name() end
---@return string
function ai:tostring() end
---@return socket2.sockaddr
function ai:sockaddr() end

---@class socket2.socket
local S = {}
---@return true|nil ok, string? err, socket2.errcode? code
function S:close() end
---@return boolean
function S:closed() end
---@return integer
function S:fileno() end
---@return integer fd the descriptor, now detached from this object
function S:release() end
---@return string
function S:type() end
---@return socket2.family
function S:family() end
---@return string|integer
function S:protocol() end
---@return 'tcp'|'udp'|'raw'|'unix'
function S:kind() end
---@param host string|socket2.sockaddr|socket2.addrinfo|nil
---@param port? integer|string
---@return true|nil ok, string? err, socket2.errcode? code
function S:bind(host, port) end
---@param seconds number? nil: wait forever
function S:settimeout(seconds) end
---@return number?
function S:gettimeout() end
---@param on boolean false: calls that would wait return nil, 'would block', 'EAGAIN'
function S:setblocking(on) end
---@return boolean
function S:getblocking() end
---@param how? 'r'|'w'|'rw'
---@return true|nil ok, string? err, socket2.errcode? code
function S:shutdown(how) end
---@return socket2.sockaddr|nil sa, string? err, socket2.errcode? code
function S:getsockname() end
---@return socket2.sockaddr|nil sa, string? err, socket2.errcode? code
function S:getpeername() end
---@param name string 'reuseaddr', 'nodelay', 'rcvbuf', 'linger', ...
---@param value boolean|integer|false
---@return true|nil ok, string? err, socket2.errcode? code
function S:setopt(name, value) end
---@param name string
---@return any value
function S:getopt(name) end
---@param dir 'r'|'w'
---@param timeout? number seconds
---@return true|nil ok, string? err, socket2.errcode? code
function S:wait(dir, timeout) end
---@return integer|nil n, string? err, socket2.errcode? code
function S:nread() end

---@class socket2.stream_socket: socket2.socket
local T = {}
---@return true|nil ok, string? err, socket2.errcode? code
function T:listen(backlog_or_host, host_or_port, port_or_backlog) end
---@param expires? number absolute socket.clock() deadline
---@return socket2.stream_socket|nil client, socket2.sockaddr|string remote, socket2.sockaddr|socket2.errcode local_
function T:accept(expires) end
---@param host string|socket2.sockaddr|socket2.addrinfo
---@param port? integer|string
---@param expires? number
---@return true|nil ok, string? err, socket2.errcode? code
function T:connect(host, port, expires) end
---@param buf string|socket2.buffer
---@param len? integer
---@param expires? number
---@param flags? string 'oob', 'dontroute'
---@return integer|nil sent, string? err, socket2.errcode? code
function T:send(buf, len, expires, flags) end
---@param buf socket2.buffer
---@param len integer
---@param expires? number
---@param flags? string 'peek', 'oob', 'waitall'
---@return integer|nil n 0 at EOF, string? err, socket2.errcode? code
function T:recv(buf, len, expires, flags) end
---@return integer|nil len, string? err, socket2.errcode? code, integer? sent
function T:sendall(buf, len, expires) end
---@return integer|nil len, string? err, socket2.errcode? code, integer? received
function T:recvall(buf, len, expires) end

---@class socket2.dgram_socket: socket2.socket
local D = {}
---@param buf string|socket2.buffer
---@param len? integer
---@param host? string|socket2.sockaddr|socket2.addrinfo nil: the connected peer
---@return integer|nil sent, string? err, socket2.errcode? code
function D:send(buf, len, host, port, expires, flags) end
---@return integer|nil n, socket2.sockaddr|string from_or_err, socket2.errcode? code
function D:recv(buf, len, expires, flags) end
---@param from socket2.sockaddr filled with the sender's address
---@return integer|nil n, string? err, socket2.errcode? code
function D:recvfrom(buf, len, from, expires, flags) end
---@return true|nil ok, string? err, socket2.errcode? code
function D:connect(host, port, expires) end
---@return true|nil ok, string? err, socket2.errcode? code
function D:disconnect() end

---@class socket2.stream
---@field socket socket2.stream_socket
local ST = {}
---@return string|nil line, string? err, socket2.errcode? code
function ST:readline(keep_eol, maxlen, expires) end
---@return string|nil data, string? err, socket2.errcode? code
function ST:read(n, expires) end
---@return string|nil data, string? err, socket2.errcode? code
function ST:readuntil(delim, maxlen, expires) end
---@return string|nil data, string? err, socket2.errcode? code
function ST:readany(max, expires) end
---@return string
function ST:buffered() end
---@return integer
function ST:nbuffered() end
---@return true|nil ok, string? err, socket2.errcode? code
function ST:write(...) end
---@return true|nil ok, string? err, socket2.errcode? code
function ST:flush(expires) end
---@return integer
function ST:nwritten() end
function ST:settimeout(seconds) end
---@return number?
function ST:gettimeout() end
---@return true|nil ok, string? err, socket2.errcode? code
function ST:close(timeout) end

---@class socket2
---@field backend 'epoll'|'kqueue'|'iocp'|'io_uring'
local socket2 = {}
---@return socket2.addrinfo|nil ai, string|boolean|nil err, socket2.errcode? code
function socket2.addr(host, port, socktype, family, protocol, flags, expires) end
---@return socket2.sockaddr|nil sa, string? err, socket2.errcode? code
function socket2.sockaddr(ip_or_path, port) end
---@param flags? string|string[]|integer 'numerichost', 'numericserv', 'namereqd', 'nofqdn', 'dgram'
---@return string|nil host, string? service_or_err, socket2.errcode? code
function socket2.getnameinfo(sa, flags, timeout) end
---@param family? socket2.family
---@return socket2.stream_socket|nil s, string? err, socket2.errcode? code
function socket2.tcp(family, protocol) end
---@return socket2.dgram_socket|nil s, string? err, socket2.errcode? code
function socket2.udp(family, protocol) end
---@return socket2.dgram_socket|nil s, string? err, socket2.errcode? code
function socket2.raw(family, protocol) end
---@param socktype? 'stream'|'dgram'|'seqpacket'
---@return socket2.socket|nil s, string? err, socket2.errcode? code
function socket2.unix(socktype) end
---@param kind? 'tcp'|'udp'|'raw'|'unix'|'fd' 'fd': any pollable descriptor, to wait on
---@return socket2.socket|nil s, string? err, socket2.errcode? code
function socket2.wrap(fd, kind) end
---@return boolean
function socket2.issocket(v) end
---@param opt? integer|{bufsize: integer?, maxqueue: integer?}
---@return socket2.stream
function socket2.stream(sock, opt) end
---@return thread
function socket2.newthread(f, ...) end
---@param f? fun(thread: thread, err: any, traceback: string)
---@return fun(thread: thread, err: any, traceback: string) previous
function socket2.onerror(f) end
---@return boolean|nil ok, any ...
function socket2.join(thread, timeout) end
---@return boolean killed
function socket2.kill(thread) end
---@return table|nil readable, table|string writable_or_err, socket2.errcode? code
function socket2.select(readers, writers, timeout) end
---@return thread?
function socket2.currentthread() end
function socket2.suspend() end
function socket2.resume(thread, ...) end
---@return boolean|nil, string?
function socket2.poll(timeout) end
---@return true|nil ok, string? err, socket2.errcode? code
function socket2.start(timeout) end
function socket2.stop() end
---@return any ...
function socket2.run(f, ...) end
function socket2.sleep(seconds) end
function socket2.sleep_until(t) end
---@return number seconds, monotonic
function socket2.clock() end
---@return {slots: integer, threads: integer, waiting: integer, timers: integer, queued: integer}
function socket2.stats() end
---@return integer
function socket2.epoll_fd(fd) end
---@return integer
function socket2.kqueue_fd(fd) end
---@return integer
function socket2.iocp(h) end
function socket2.htons(n) end
function socket2.ntohs(n) end
function socket2.htonl(n) end
function socket2.ntohl(n) end

return socket2

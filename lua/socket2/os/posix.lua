-- socket2/os/posix.lua: the socket prototypes linux.lua and bsd.lua share
-- (each declares its own structs first: socklen_t, sockaddr, addrinfo and
-- timespec differ). Not an OS file: it returns cdef text.
return [[
int socket(int domain, int type, int protocol);
int bind(int fd, const struct sockaddr *addr, socklen_t len);
int listen(int fd, int backlog);
int connect(int fd, const struct sockaddr *addr, socklen_t len);
/* ssize_t declared as int: lengths are capped below 2^31 by the caller, and
   an int result is a plain Lua number (an intptr_t would box a cdata per call) */
int send(int fd, const void *buf, size_t n, int flags);
int recv(int fd, void *buf, size_t n, int flags);
int sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t len);
int recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *len);
int shutdown(int fd, int how);
int close(int fd);
int getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int getpeername(int fd, struct sockaddr *addr, socklen_t *len);
int ioctl(int fd, unsigned long req, ...);
int fcntl(int fd, int cmd, ...);
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);
void freeaddrinfo(struct addrinfo *res);
int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen,
                char *serv, socklen_t servlen, int flags);
const char *inet_ntop(int af, const void *src, char *dst, socklen_t size);
int inet_pton(int af, const char *src, void *dst);
unsigned int if_nametoindex(const char *name);
int clock_gettime(int clk, struct timespec *ts);
int sockatmark(int fd);
int open(const char *path, int flags, ...);
]]

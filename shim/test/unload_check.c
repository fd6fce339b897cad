/* unload_check.c -- run by spec/reliability/resolver_spec.lua inside its private
 * network namespace (resolv.conf -> 127.0.0.1): a lookup worker must
 * survive the shim library being unloaded while it is inside getaddrinfo,
 * as LuaJIT's lua_close unloads ffi.load'ed libraries at exit.
 *   RES_OPTIONS=timeout:1 unload_check path/to/shim.so
 * prints "check unload_survives ok" (a crash is SIGSEGV). Nothing answers on
 * 127.0.0.1:53 (this program holds the port), so the worker waits out the
 * resolver's 1 s timeout after the library went away, then returns into it. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct sockaddr_in a;
    void *h, *loop, *req;
    int32_t (*open_)(int64_t, void **);
    int32_t (*start)(void *, const char *, const char *, int32_t, int32_t, int32_t,
                     int32_t, uint32_t, uint32_t, void **);
    void (*close_)(void *);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(53);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (argc < 2 || bind(u, (struct sockaddr *)&a, sizeof a) != 0) {
        printf("check unload_survives fail: no silent DNS server on 127.0.0.1:53\n");
        return 1;
    }
    if (!(h = dlopen(argv[1], RTLD_NOW))) {
        printf("check unload_survives fail: %s\n", dlerror());
        return 1;
    }
    *(void **)&open_ = dlsym(h, "s2_open");
    *(void **)&start = dlsym(h, "s2_lookup_start");
    *(void **)&close_ = dlsym(h, "s2_close");
    if (open_(-1, &loop) != 0
        || start(loop, "silent.socket2.test", "80", 0, SOCK_STREAM, 0, 0, 1, 0, &req) != 0) {
        printf("check unload_survives fail: lookup did not start\n");
        return 1;
    }
    usleep(100 * 1000);  /* the worker is inside getaddrinfo (it waits 1 s) */
    close_(loop);
    dlclose(h);
    sleep(2);            /* getaddrinfo times out and returns meanwhile */
    printf("check unload_survives ok\n");
    return 0;
}

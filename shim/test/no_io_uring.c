/* no_io_uring.c -- runs a command as if the kernel refused io_uring:
 *   no_io_uring EPERM|ENOSYS command [args...]
 * Used by spec/unit/backend_spec.lua to check the fallback to epoll. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "refuse_uring.h"

int main(int argc, char **argv) {
    int err;
    if (argc < 3 || (strcmp(argv[1], "EPERM") && strcmp(argv[1], "ENOSYS"))) {
        fprintf(stderr, "usage: no_io_uring EPERM|ENOSYS command [args...]\n");
        return 2;
    }
    err = strcmp(argv[1], "EPERM") ? ENOSYS : EPERM;
    if (refuse_io_uring(err) != 0) { perror("no_io_uring: seccomp"); return 2; }
    execvp(argv[2], argv + 2);
    perror("no_io_uring: exec");
    return 127;
}

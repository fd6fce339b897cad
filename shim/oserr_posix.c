/* oserr_posix.c -- errno and getaddrinfo codes -> -S2_E* on POSIX systems.
 * Windows has its own table in oserr_win.c. */
#include <errno.h>
#include <netdb.h>
#include "s2_internal.h"

S2_API int32_t s2_from_oserror(int32_t e) {
    switch (e) {
#define M(x) case x: return -S2_##x
    M(EPERM); M(ENOENT); M(EINTR); M(EIO); M(EBADF); M(ENOMEM); M(EACCES);
    M(EFAULT); M(EBUSY); M(EEXIST); M(EINVAL); M(ENFILE); M(EMFILE); M(ENOSPC);
    M(EPIPE); M(ENOSYS); M(ENAMETOOLONG); M(ENOTSOCK); M(EDESTADDRREQ);
    M(EMSGSIZE); M(EPROTOTYPE); M(ENOPROTOOPT); M(EPROTONOSUPPORT);
    M(EAFNOSUPPORT); M(EADDRINUSE); M(EADDRNOTAVAIL); M(ENETDOWN);
    M(ENETUNREACH); M(ENETRESET); M(ECONNABORTED); M(ECONNRESET); M(ENOBUFS);
    M(EISCONN); M(ENOTCONN); M(ESHUTDOWN); M(ETIMEDOUT); M(ECONNREFUSED);
    M(EHOSTDOWN); M(EHOSTUNREACH); M(EALREADY); M(EINPROGRESS); M(ECANCELED);
    M(ELOOP);
#undef M
    case EAGAIN: return -S2_EAGAIN;
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK: return -S2_EAGAIN;
#endif
    case EOPNOTSUPP: return -S2_EOPNOTSUPP;
#if defined(ENOTSUP) && ENOTSUP != EOPNOTSUPP
    case ENOTSUP: return -S2_EOPNOTSUPP;
#endif
    default: return -S2_EUNKNOWN;
    }
}

/* getaddrinfo()/getnameinfo() result -> 0 or -S2_EAI_* (EAI_SYSTEM: err is
 * the errno, mapped by s2_from_oserror). */
S2_API int32_t s2_from_gaierror(int32_t rc, int32_t err) {
    switch (rc) {
    case 0: return 0;
    case EAI_NONAME: return -S2_EAI_NONAME;
#ifdef EAI_NODATA
    case EAI_NODATA: return -S2_EAI_NONAME;
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY: return -S2_EAI_NONAME;
#endif
    case EAI_AGAIN: return -S2_EAI_AGAIN;
    case EAI_FAIL: return -S2_EAI_FAIL;
    case EAI_FAMILY: return -S2_EAI_FAMILY;
    case EAI_SERVICE: return -S2_EAI_SERVICE;
    case EAI_SOCKTYPE: return -S2_EAI_SOCKTYPE;
    case EAI_BADFLAGS: return -S2_EAI_BADFLAGS;
    case EAI_MEMORY: return -S2_EAI_MEMORY;
    case EAI_SYSTEM: return err ? s2_from_oserror(err) : -S2_EAI_OTHER;
    default: return -S2_EAI_OTHER;
    }
}

# socket2 -- see README.md. `make test` and `make demo` install what they
# need from Debian when it is missing (tools/deps.sh).

PREFIX  ?= /usr/local
DESTDIR ?=
LUA_LIBDIR   = $(PREFIX)/lib/lua/5.1
LUA_SHAREDIR = $(PREFIX)/share/lua/5.1

CC      ?= gcc
CFLAGS  ?= -O2 -g
WARN     = -std=gnu11 -Wall -Wextra -Werror
SHIM_CFLAGS = $(WARN) -fPIC -fvisibility=hidden -Ishim
LUAJIT  ?= luajit
BUSTED   = $(LUAJIT) /usr/bin/busted

SHIM_COMMON = shim/common.c shim/oserr_posix.c shim/lookup.c
SHIM_HDRS   = shim/socket2.h shim/s2_internal.h shim/s2_thread.h
SHIM        = socket2/shim.so
# io_uring: a second Linux backend built beside the default (epoll) one and
# picked at run time with SOCKET2_BACKEND=io_uring; needs liburing-dev.
SHIM_URING  = socket2/shim_io_uring.so
HAVE_URING  = $(wildcard /usr/include/liburing.h)

export LUA_PATH := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;;
export LUA_CPATH := $(CURDIR)/?.so;;

.PHONY: all deps test test-c test-lua demo asan lint clean install uninstall

all: $(SHIM) $(if $(HAVE_URING),$(SHIM_URING))

deps:
	@sh tools/deps.sh

$(SHIM): shim/epoll.c $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p socket2
	$(CC) $(CFLAGS) $(SHIM_CFLAGS) -shared -o $@ shim/epoll.c $(SHIM_COMMON) -lpthread

$(SHIM_URING): shim/io_uring.c $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p socket2
	$(CC) $(CFLAGS) $(SHIM_CFLAGS) -shared -o $@ shim/io_uring.c $(SHIM_COMMON) -lpthread -luring

build/test_shim: shim/test/test_shim.c shim/epoll.c $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -Ishim -o $@ shim/test/test_shim.c shim/epoll.c $(SHIM_COMMON) -lpthread

build/test_io_uring: shim/test/test_io_uring.c shim/test/refuse_uring.h shim/io_uring.c $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -Ishim -o $@ shim/test/test_io_uring.c shim/io_uring.c $(SHIM_COMMON) -lpthread -luring

# runs a command as if the kernel refused io_uring (spec/backend_spec.lua)
build/no_io_uring: shim/test/no_io_uring.c shim/test/refuse_uring.h
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -o $@ shim/test/no_io_uring.c

# Every suite prints TAP into build/test/; the last line sums them all. The
# busted suite runs once per Linux backend; when the kernel refuses
# io_uring, its suites report a skip that says why (tools/run-backend.sh).
test: deps
	@$(MAKE) --no-print-directory all $(SHIM_URING) build/test_shim build/test_io_uring build/no_io_uring
	@rm -rf build/test
	@sh tools/run-suite.sh shim-c build/test_shim
	@sh tools/run-suite.sh shim-io_uring-c build/test_io_uring
	@sh tools/run-suite.sh busted-epoll $(BUSTED) -o TAP spec
	@sh tools/run-suite.sh busted-io_uring sh tools/run-backend.sh io_uring $(BUSTED) -o TAP spec
	@sh tools/tap-summary.sh build/test/*.tap

test-c: build/test_shim build/test_io_uring
	./build/test_shim
	./build/test_io_uring

test-lua: all build/no_io_uring
	$(BUSTED) spec
	SOCKET2_BACKEND=io_uring $(BUSTED) spec

demo: deps all
	$(LUAJIT) examples/demo.lua

# ASan + UBSan over the C tests and the whole busted suite.
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
asan: deps
	@mkdir -p build/asan/socket2
	$(CC) $(ASAN_FLAGS) $(SHIM_CFLAGS) -shared -o build/asan/socket2/shim.so shim/epoll.c $(SHIM_COMMON) -lpthread
	$(CC) $(ASAN_FLAGS) $(WARN) -Ishim -o build/asan/test_shim shim/test/test_shim.c shim/epoll.c $(SHIM_COMMON) -lpthread
	./build/asan/test_shim > /dev/null
	LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) SOCKET2_SHIM=build/asan/socket2/shim.so \
	  ASAN_OPTIONS=detect_leaks=1 $(BUSTED) spec
	$(CC) $(ASAN_FLAGS) $(SHIM_CFLAGS) -shared -o build/asan/socket2/shim_io_uring.so shim/io_uring.c $(SHIM_COMMON) -lpthread -luring
	$(CC) $(ASAN_FLAGS) $(WARN) -Ishim -o build/asan/test_io_uring shim/test/test_io_uring.c shim/io_uring.c $(SHIM_COMMON) -lpthread -luring
	./build/asan/test_io_uring > /dev/null
	LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) SOCKET2_SHIM=build/asan/socket2/shim_io_uring.so \
	  ASAN_OPTIONS=detect_leaks=1 $(BUSTED) spec

lint: deps
	@command -v luacheck >/dev/null || sh tools/deps.sh lua-check
	luacheck --no-color -q lua spec examples
	$(CC) $(WARN) -fsyntax-only -Ishim shim/*.c shim/test/*.c

install: all
	install -d $(DESTDIR)$(LUA_LIBDIR)/socket2 $(DESTDIR)$(LUA_SHAREDIR)/socket2/os
	install -m 0755 $(SHIM) $(DESTDIR)$(LUA_LIBDIR)/socket2/shim.so
	$(if $(HAVE_URING),install -m 0755 $(SHIM_URING) $(DESTDIR)$(LUA_LIBDIR)/socket2/shim_io_uring.so)
	install -m 0644 lua/socket2.lua $(DESTDIR)$(LUA_SHAREDIR)/socket2.lua
	install -m 0644 lua/socket2/*.lua $(DESTDIR)$(LUA_SHAREDIR)/socket2/
	install -m 0644 lua/socket2/os/*.lua $(DESTDIR)$(LUA_SHAREDIR)/socket2/os/

uninstall:
	rm -rf $(DESTDIR)$(LUA_LIBDIR)/socket2 $(DESTDIR)$(LUA_SHAREDIR)/socket2 $(DESTDIR)$(LUA_SHAREDIR)/socket2.lua

clean:
	rm -rf socket2 build

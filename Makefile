# socket2 -- see README.md. `make test` and `make demo` install what they
# need from Debian when it is missing (tools/deps.sh).

PREFIX  ?= /usr/local
DESTDIR ?=
LUA_LIBDIR   ?= $(PREFIX)/lib/lua/5.1
LUA_SHAREDIR ?= $(PREFIX)/share/lua/5.1

CC      ?= gcc
CFLAGS  ?= -O2 -g
WARN     = -std=gnu11 -Wall -Wextra -Werror
SHIM_CFLAGS = $(WARN) -fPIC -fvisibility=hidden -Ishim
LUAJIT  ?= luajit
BUSTED   = $(LUAJIT) /usr/bin/busted

SHIM_COMMON = shim/common.c shim/oserr_posix.c shim/lookup.c
SHIM_HDRS   = shim/socket2.h shim/s2_internal.h shim/s2_thread.h
SHIM        = socket2/shim.so

export LUA_PATH := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;;
export LUA_CPATH := $(CURDIR)/?.so;;

.PHONY: all deps test test-c test-lua demo asan lint clean install uninstall

all: $(SHIM)

deps:
	@sh tools/deps.sh

$(SHIM): shim/epoll.c $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p socket2
	$(CC) $(CFLAGS) $(SHIM_CFLAGS) -shared -o $@ shim/epoll.c $(SHIM_COMMON) -lpthread

build/test_shim: shim/test/test_shim.c shim/epoll.c $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -Ishim -o $@ shim/test/test_shim.c shim/epoll.c $(SHIM_COMMON) -lpthread

# Every suite prints TAP into build/test/; the last line sums them all.
TEST_DEPS = luarocks iproute2 util-linux nftables
test: deps
	@sh tools/deps.sh $(TEST_DEPS)
	@$(MAKE) --no-print-directory all build/test_shim
	@rm -rf build/test
	@sh tools/run-suite.sh shim-c build/test_shim
	@sh tools/run-suite.sh busted-epoll $(BUSTED) -o TAP spec
	@sh tools/tap-summary.sh build/test/*.tap

test-c: build/test_shim
	./build/test_shim

test-lua: all
	$(BUSTED) spec

demo: deps all
	$(LUAJIT) examples/demo.lua

# ASan + UBSan over the C tests (with LeakSanitizer) and the whole busted
# suite. LeakSanitizer stays off under LuaJIT: its stop-the-world scan
# aborts in this sandbox once worker threads exist, and LuaJIT's own exit
# path reports a libc allocation; leaks are checked by `make valgrind`.
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
asan: deps
	@mkdir -p build/asan/socket2
	$(CC) $(ASAN_FLAGS) $(SHIM_CFLAGS) -shared -o build/asan/socket2/shim.so shim/epoll.c $(SHIM_COMMON) -lpthread
	$(CC) $(ASAN_FLAGS) $(WARN) -Ishim -o build/asan/test_shim shim/test/test_shim.c shim/epoll.c $(SHIM_COMMON) -lpthread
	./build/asan/test_shim > /dev/null
	LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) SOCKET2_SHIM=$(CURDIR)/build/asan/socket2/shim.so \
	  ASAN_OPTIONS=detect_leaks=0 $(BUSTED) -o TAP spec > build/asan/busted.tap; \
	  rc=$$?; grep -v '^ok ' build/asan/busted.tap; exit $$rc

lint: deps
	@command -v luacheck >/dev/null || sh tools/deps.sh lua-check
	luacheck --no-color -q lua spec examples
	$(CC) $(WARN) -fsyntax-only -Ishim shim/*.c shim/test/*.c

install: all
	install -d $(DESTDIR)$(LUA_LIBDIR)/socket2 $(DESTDIR)$(LUA_SHAREDIR)/socket2/os
	install -m 0755 $(SHIM) $(DESTDIR)$(LUA_LIBDIR)/socket2/shim.so
	install -m 0644 lua/socket2.lua $(DESTDIR)$(LUA_SHAREDIR)/socket2.lua
	install -m 0644 lua/socket2/*.lua $(DESTDIR)$(LUA_SHAREDIR)/socket2/
	install -m 0644 lua/socket2/os/*.lua $(DESTDIR)$(LUA_SHAREDIR)/socket2/os/

uninstall:
	rm -rf $(DESTDIR)$(LUA_LIBDIR)/socket2 $(DESTDIR)$(LUA_SHAREDIR)/socket2 $(DESTDIR)$(LUA_SHAREDIR)/socket2.lua

clean:
	rm -rf socket2 build

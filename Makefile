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

SHIM_COMMON = shim/common.c shim/oserr_posix.c shim/lookup.c shim/shared.c shim/lthread.c
SHIM_HDRS   = shim/socket2.h shim/s2_internal.h shim/s2_thread.h
SHIM        = socket2/shim.so
# the backend of the default shim: kqueue on macOS and FreeBSD (not tested
# there: see README, "kqueue"), epoll elsewhere
ifneq (,$(filter Darwin FreeBSD,$(shell uname -s)))
BACKEND_SRC = shim/kqueue.c
else
BACKEND_SRC = shim/epoll.c
endif

# kqueue backend, built on Linux over a test-only kqueue emulation (spec/kqemu)
KQEMU       = spec/kqemu/kqemu.c
KQEMU_HDRS  = spec/kqemu/include/sys/event.h
KQ_SHIM     = socket2/shim_kqueue.so

# io_uring: a second Linux backend built beside the default (epoll) one and
# picked at run time with SOCKET2_BACKEND=io_uring; needs liburing-dev.
SHIM_URING  = socket2/shim_io_uring.so
HAVE_URING  = $(wildcard /usr/include/liburing.h)

export LUA_PATH := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;;
export LUA_CPATH := $(CURDIR)/?.so;;

.PHONY: win-tls bench-tls install-tls
.PHONY: all deps kqueue test test-c test-lua demo asan tsan valgrind valgrind-threads fuzz lint clean install uninstall bench bench-threads win win-setup test-win

# PLAT=mingw cross-builds the Windows (IOCP) shim instead: see `win` below.
PLAT ?= $(shell uname -s | tr A-Z a-z)
ifeq ($(PLAT),mingw)
all: win
else
all: $(SHIM) $(if $(HAVE_URING),$(SHIM_URING))
endif

deps:
	@sh tools/deps.sh

$(SHIM): $(BACKEND_SRC) $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p socket2
	$(CC) $(CFLAGS) $(SHIM_CFLAGS) -shared -o $@ $(BACKEND_SRC) $(SHIM_COMMON) -lpthread -ldl

# SOCKET2_BACKEND=kqueue loads it; the C tests of the emulation run in both
# struct layouts; kqueue.c also compiles in the macOS layout.
kqueue: $(KQ_SHIM) build/test_kqemu build/test_kqemu_macos build/kqueue_macos.o build/test_kqueue_shim build/test_shared_kqueue

$(KQ_SHIM): shim/kqueue.c $(SHIM_COMMON) $(SHIM_HDRS) $(KQEMU) $(KQEMU_HDRS)
	@mkdir -p socket2
	$(CC) $(CFLAGS) $(SHIM_CFLAGS) -Ispec/kqemu/include -shared -o $@ shim/kqueue.c $(SHIM_COMMON) $(KQEMU) -lpthread -ldl

build/test_kqemu: spec/kqemu/test_kqemu.c $(KQEMU) $(KQEMU_HDRS)
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -Ispec/kqemu/include -o $@ spec/kqemu/test_kqemu.c $(KQEMU) -lpthread

build/test_kqemu_macos: spec/kqemu/test_kqemu.c $(KQEMU) $(KQEMU_HDRS)
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -DKQEMU_LAYOUT_MACOS -Ispec/kqemu/include -o $@ spec/kqemu/test_kqemu.c $(KQEMU) -lpthread

build/test_kqueue_shim: shim/test/test_kqueue_shim.c shim/kqueue.c $(SHIM_COMMON) $(SHIM_HDRS) $(KQEMU) $(KQEMU_HDRS)
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -Ishim -Ispec/kqemu/include -o $@ shim/test/test_kqueue_shim.c shim/kqueue.c $(SHIM_COMMON) $(KQEMU) -lpthread -ldl

build/test_shared_kqueue: shim/test/test_shared.c shim/kqueue.c $(SHIM_COMMON) $(SHIM_HDRS) $(KQEMU) $(KQEMU_HDRS)
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -DS2_TEST_KQUEUE -Ishim -Ispec/kqemu/include -o $@ shim/test/test_shared.c shim/kqueue.c $(SHIM_COMMON) $(KQEMU) -lpthread -ldl

build/kqueue_macos.o: shim/kqueue.c $(SHIM_HDRS) $(KQEMU_HDRS)
	@mkdir -p build
	$(CC) $(CFLAGS) $(SHIM_CFLAGS) -DKQEMU_LAYOUT_MACOS -Ispec/kqemu/include -c -o $@ shim/kqueue.c

$(SHIM_URING): shim/io_uring.c $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p socket2
	$(CC) $(CFLAGS) $(SHIM_CFLAGS) -shared -o $@ shim/io_uring.c $(SHIM_COMMON) -lpthread -ldl -luring

build/unload_check: shim/test/unload_check.c
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -o $@ shim/test/unload_check.c -ldl

build/test_shim: shim/test/test_shim.c shim/epoll.c $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -Ishim -o $@ shim/test/test_shim.c shim/epoll.c $(SHIM_COMMON) -lpthread -ldl

build/test_shared: shim/test/test_shared.c shim/epoll.c $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -Ishim -o $@ shim/test/test_shared.c shim/epoll.c $(SHIM_COMMON) -lpthread -ldl

# ASan + UBSan build of the shim, and how busted runs on it (LuaJIT loads
# libasan first through LD_PRELOAD). LeakSanitizer stays off under LuaJIT:
# its stop-the-world scan aborts in this sandbox once worker threads exist,
# and LuaJIT's own exit path reports a libc allocation; leaks are checked by
# `make valgrind`.
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_SHIM  = build/asan/socket2/shim.so
ASAN_RUN   = env LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) SOCKET2_SHIM=$(CURDIR)/$(ASAN_SHIM) \
  ASAN_OPTIONS=detect_leaks=0

$(ASAN_SHIM): shim/epoll.c $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p build/asan/socket2
	$(CC) $(ASAN_FLAGS) $(SHIM_CFLAGS) -shared -o $@ shim/epoll.c $(SHIM_COMMON) -lpthread -ldl

build/test_io_uring: shim/test/test_io_uring.c shim/test/refuse_uring.h shim/io_uring.c $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -Ishim -o $@ shim/test/test_io_uring.c shim/io_uring.c $(SHIM_COMMON) -lpthread -ldl -luring

# runs a command as if the kernel refused io_uring (spec/unit/backend_spec.lua)
build/no_io_uring: shim/test/no_io_uring.c shim/test/refuse_uring.h
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -o $@ shim/test/no_io_uring.c

# Every suite prints TAP into build/test/; the last line sums them all. The
# busted suite runs once per backend that can run here; when the kernel
# refuses io_uring, its suites report a skip that says why
# (tools/run-backend.sh). On epoll it also runs on the ASan+UBSan shim.
TEST_DEPS = luarocks iproute2 util-linux nftables librust-libc-dev
test: deps
	@sh tools/deps.sh $(TEST_DEPS)
	@$(MAKE) --no-print-directory all build/test_shim build/test_shared kqueue $(SHIM_URING) build/test_io_uring build/no_io_uring build/unload_check $(ASAN_SHIM)
	@rm -rf build/test
	@sh tools/run-suite.sh shim-c build/test_shim
	@sh tools/run-suite.sh shim-shared build/test_shared
	@sh tools/run-suite.sh shim-io_uring-c build/test_io_uring
	@sh tools/run-suite.sh busted-epoll $(BUSTED) -o TAP spec
	@sh tools/run-suite.sh kqemu-c build/test_kqemu
	@sh tools/run-suite.sh kqemu-c-macos build/test_kqemu_macos
	@sh tools/run-suite.sh kqueue-shim-c build/test_kqueue_shim
	@sh tools/run-suite.sh kqueue-shared-c build/test_shared_kqueue
	@SOCKET2_BACKEND=kqueue sh tools/run-suite.sh busted-kqueue $(BUSTED) -o TAP spec
	@sh tools/run-suite.sh busted-asan $(ASAN_RUN) $(BUSTED) -o TAP spec
	@sh tools/run-suite.sh busted-io_uring sh tools/run-backend.sh io_uring $(BUSTED) -o TAP spec
	@$(MAKE) --no-print-directory win
	@sh tools/run-suite.sh shim-c-iocp sh tools/wine/run.sh $(WIN)/test_iocp.exe
	@sh tools/run-suite.sh busted-iocp sh tools/wine/busted.sh -o TAP spec
	@sh tools/tap-summary.sh build/test/*.tap

# TLS (socket2.tls, issue 14): the peers its specs run against; for the
# Windows suite, OpenSSL DLLs cross-built from Debian's source (cached in
# $${SOCKET2_CACHE:-/var/cache/socket2}/win: tools/wine/openssl.sh) and
# this run's certificates (Wine cannot run openssl); bench peers.
TLS_TEST_DEPS  = openssl curl python3 gnutls-bin nginx-light wrk
TLS_BENCH_DEPS = openssl nginx-light wrk libssl-dev lua-cqueues lua-luaossl
TEST_DEPS     += $(TLS_TEST_DEPS)
win: win-tls
win-tls: win-setup
	@sh tools/wine/openssl.sh
	@sh tools/tls/certs.sh build/tls/certs
bench: bench-tls
bench-tls: all build/bench/c-client build/bench/tls-server build/bench/tls-client
	@sh tools/deps.sh $(TLS_BENCH_DEPS)
	@QUICK=$(QUICK) LUAJIT=$(LUAJIT) bash bench/tls/run.sh
install: install-tls
install-tls:
	install -d $(DESTDIR)$(LUA_SHAREDIR)/socket2/tls
	install -m 0644 lua/socket2/tls/*.lua $(DESTDIR)$(LUA_SHAREDIR)/socket2/tls/
build/bench/tls-%: bench/tls/%.c
	@sh tools/deps.sh libssl-dev
	@mkdir -p build/bench
	$(CC) -O2 -g $(WARN) -o $@ $< -lssl -lcrypto

# Windows: the IOCP shim cross-built with mingw-w64, tested under Wine with
# LuaJIT for Windows built from Debian's source (tools/wine/setup.sh; all
# of it is cached under build/win).
MINGW      ?= x86_64-w64-mingw32-
WIN         = build/win
WIN_SHIM    = $(WIN)/lib/socket2/shim.dll
WIN_SRC     = shim/iocp.c shim/common.c shim/oserr_win.c shim/lookup.c shim/shared.c shim/lthread.c
WIN_CFLAGS  = -O2 -g -std=gnu11 -Wall -Wextra -Werror -Ishim -D_WIN32_WINNT=0x0600
WIN_LIBS    = -lws2_32 -lntdll
WIN_ONLY    = shim/iocp.c shim/oserr_win.c shim/test/test_iocp.c

win-setup:
	@sh tools/wine/setup.sh

win: win-setup $(WIN_SHIM) $(WIN)/test_iocp.exe

$(WIN_SHIM): $(WIN_SRC) $(SHIM_HDRS)
	@mkdir -p $(dir $@)
	$(MINGW)gcc $(WIN_CFLAGS) -shared -o $@ $(WIN_SRC) $(WIN_LIBS)

$(WIN)/test_iocp.exe: shim/test/test_iocp.c $(WIN_SRC) $(SHIM_HDRS)
	@mkdir -p $(dir $@)
	$(MINGW)gcc $(WIN_CFLAGS) -o $@ shim/test/test_iocp.c $(WIN_SRC) $(WIN_LIBS)

# The Windows suites alone (make test runs them too).
test-win: win
	@sh tools/wine/run.sh $(WIN)/test_iocp.exe
	@sh tools/wine/busted.sh spec

test-c: build/test_shim build/test_io_uring
	./build/test_shim
	./build/test_io_uring

test-lua: all build/no_io_uring
	$(BUSTED) spec
	SOCKET2_BACKEND=io_uring $(BUSTED) spec

demo: deps all
	$(LUAJIT) examples/demo.lua

# ASan + UBSan over the C tests (with LeakSanitizer) and the whole busted
# suite (see ASAN_RUN above).
asan: deps $(ASAN_SHIM)
	$(CC) $(ASAN_FLAGS) $(WARN) -Ishim -o build/asan/test_shim shim/test/test_shim.c shim/epoll.c $(SHIM_COMMON) -lpthread -ldl
	./build/asan/test_shim > /dev/null
	$(ASAN_RUN) $(BUSTED) -o TAP spec > build/asan/busted.tap; \
	  rc=$$?; grep -v '^ok ' build/asan/busted.tap; exit $$rc
	$(CC) $(ASAN_FLAGS) $(SHIM_CFLAGS) -Ispec/kqemu/include -shared -o build/asan/socket2/shim_kqueue.so shim/kqueue.c $(SHIM_COMMON) $(KQEMU) -lpthread -ldl
	$(CC) $(ASAN_FLAGS) $(WARN) -Ispec/kqemu/include -o build/asan/test_kqemu spec/kqemu/test_kqemu.c $(KQEMU) -lpthread
	./build/asan/test_kqemu > /dev/null
	$(CC) $(ASAN_FLAGS) $(WARN) -Ishim -Ispec/kqemu/include -o build/asan/test_kqueue_shim shim/test/test_kqueue_shim.c shim/kqueue.c $(SHIM_COMMON) $(KQEMU) -lpthread -ldl
	./build/asan/test_kqueue_shim > /dev/null
	LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) SOCKET2_BACKEND=kqueue \
	  SOCKET2_SHIM=$(CURDIR)/build/asan/socket2/shim_kqueue.so \
	  ASAN_OPTIONS=detect_leaks=0 $(BUSTED) -o TAP spec > build/asan/busted-kqueue.tap; \
	  rc=$$?; grep -v '^ok ' build/asan/busted-kqueue.tap; exit $$rc
	$(CC) $(ASAN_FLAGS) $(SHIM_CFLAGS) -shared -o build/asan/socket2/shim_io_uring.so shim/io_uring.c $(SHIM_COMMON) -lpthread -ldl -luring
	$(CC) $(ASAN_FLAGS) $(WARN) -Ishim -o build/asan/test_io_uring shim/test/test_io_uring.c shim/io_uring.c $(SHIM_COMMON) -lpthread -ldl -luring
	./build/asan/test_io_uring > /dev/null
	LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) SOCKET2_BACKEND=io_uring \
	  SOCKET2_SHIM=$(CURDIR)/build/asan/socket2/shim_io_uring.so \
	  ASAN_OPTIONS=detect_leaks=0 $(BUSTED) -o TAP spec > build/asan/busted-io_uring.tap; \
	  rc=$$?; grep -v '^ok ' build/asan/busted-io_uring.tap; exit $$rc

# Benchmarks (never part of `make test`): every workload x every server,
# one table; QUICK=1 for one short run per point. See README "Performance".
BENCH_DEPS = redis-tools wrk lua-luv lua-cqueues lua-socket lua-copas linux-perf valgrind
BENCH_CFLAGS = -O2 -g $(WARN)

build/bench/c-server: bench/c/server.c
	@mkdir -p build/bench
	$(CC) $(BENCH_CFLAGS) -o $@ $<

build/bench/c-client: bench/c/client.c
	@mkdir -p build/bench
	$(CC) $(BENCH_CFLAGS) -o $@ $<

bench:
	@sh tools/deps.sh $(BENCH_DEPS)
	@$(MAKE) --no-print-directory all build/bench/c-server build/bench/c-client
	@QUICK=$(QUICK) LUAJIT=$(LUAJIT) bash bench/run.sh

# valgrind over the C tests and the whole busted suite: any error, or a
# definitely lost block, fails (exit 99). No -joff is needed; two glibc
# items are suppressed (tools/valgrind.supp says why). Timing bounds in the
# specs are stretched (SOCKET2_TEST_SLOW) and the tests valgrind cannot host
# are skipped with the reason (SOCKET2_TEST_VALGRIND). Subprocesses that
# specs start (examples, namespaces) are not traced.
VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  --keep-debuginfo=yes --suppressions=tools/valgrind.supp
VALGRIND_ENV = SOCKET2_TEST_VALGRIND=1 SOCKET2_TEST_SLOW=10
valgrind: deps
	@sh tools/deps.sh valgrind
	@$(MAKE) --no-print-directory all build/test_shim
	@mkdir -p build/valgrind
	$(VALGRIND) --log-file=build/valgrind/test_shim.log ./build/test_shim > build/valgrind/test_shim.tap; \
	  rc=$$?; cat build/valgrind/test_shim.log; test $$rc = 0
	$(VALGRIND_ENV) $(VALGRIND) --log-file=build/valgrind/busted.log $(BUSTED) -o TAP spec > build/valgrind/busted.tap; \
	  rc=$$?; grep -v '^ok ' build/valgrind/busted.tap; cat build/valgrind/busted.log; test $$rc = 0

# libFuzzer targets (clang): the shim's op validation (fuzz/fuzz_submit.c)
# and the Lua parsers through LuaJIT with Lua line coverage
# (fuzz/fuzz_lua.c + fuzz/lua_targets.lua: stream, addr). Each runs
# FUZZ_TIME seconds from fuzz/corpus/NAME; inputs that add coverage are
# merged back into fuzz/corpus/NAME (commit them). A finding stops make and
# is left in build/fuzz/findings/. The tls target (fuzz/tls_target.lua) runs
# without LeakSanitizer: OpenSSL objects only LuaJIT's heap points to (its
# own mmap'd arenas, which LSan does not scan) look lost to it.

FUZZ_TIME ?= 60
FUZZ_CC   ?= clang
FUZZ_FLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS = submit stream addr tls
fuzz: deps
	@command -v $(FUZZ_CC) >/dev/null || sh tools/deps.sh clang
	@sh tools/deps.sh libclang-rt-14-dev
	@mkdir -p build/fuzz/socket2 build/fuzz/findings
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -Ishim -o build/fuzz/fuzz_submit fuzz/fuzz_submit.c \
	  shim/epoll.c $(SHIM_COMMON) -lpthread -ldl
	$(FUZZ_CC) $(FUZZ_FLAGS) $(SHIM_CFLAGS) -shared -o build/fuzz/socket2/shim.so shim/epoll.c $(SHIM_COMMON) -lpthread -ldl
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -I/usr/include/luajit-2.1 -o build/fuzz/fuzz_lua fuzz/fuzz_lua.c -lluajit-5.1
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/work/$$t fuzz/corpus/$$t; \
	  if [ $$t = submit ]; then bin=build/fuzz/fuzz_submit; else bin=build/fuzz/fuzz_lua; fi; \
	  echo "== fuzz $$t: $(FUZZ_TIME) s"; \
	  leaks=; [ $$t = tls ] && leaks=ASAN_OPTIONS=detect_leaks=0; \
	  env $$leaks S2FUZZ_TARGET=$$t SOCKET2_SHIM=$(CURDIR)/build/fuzz/socket2/shim.so $$bin -max_total_time=$(FUZZ_TIME) \
	    -artifact_prefix=build/fuzz/findings/$$t- -print_final_stats=1 \
	    build/fuzz/work/$$t fuzz/corpus/$$t > build/fuzz/$$t.log 2>&1; rc=$$?; \
	  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|Done [0-9]+ runs' build/fuzz/$$t.log; \
	  if [ $$rc != 0 ]; then tail -40 build/fuzz/$$t.log; echo "fuzz $$t: FINDING (build/fuzz/findings/)"; exit 1; fi; \
	  S2FUZZ_TARGET=$$t SOCKET2_SHIM=$(CURDIR)/build/fuzz/socket2/shim.so $$bin -merge=1 \
	    fuzz/corpus/$$t build/fuzz/work/$$t > build/fuzz/$$t.merge.log 2>&1 || { tail build/fuzz/$$t.merge.log; exit 1; }; \
	  echo "fuzz $$t: no finding; corpus fuzz/corpus/$$t has $$(ls fuzz/corpus/$$t | wc -l) inputs"; \
	done

# Requests/s and CPU per request with 1 vs 2 OS threads sharing one epoll
# fd (never part of make test; run it on a quiet machine).
build/bench/load: bench/threads/load.c
	@mkdir -p build/bench
	$(CC) -O2 -Wall -o $@ bench/threads/load.c

bench-threads: all build/bench/load
	$(LUAJIT) bench/threads/run.lua

# ThreadSanitizer over the thread tests: the C tests of sharing and the
# thread spec, with luajit running a TSan build of the shim, on epoll and on
# kqueue-over-emulation. TSan exits 66 when it reports anything.
TSAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=thread
tsan: deps
	@mkdir -p build/tsan/socket2
	$(CC) $(TSAN_FLAGS) $(SHIM_CFLAGS) -shared -o build/tsan/socket2/shim.so shim/epoll.c $(SHIM_COMMON) -lpthread -ldl
	$(CC) $(TSAN_FLAGS) $(WARN) -Ishim -o build/tsan/test_shared shim/test/test_shared.c shim/epoll.c $(SHIM_COMMON) -lpthread -ldl
	./build/tsan/test_shared > /dev/null
	LD_PRELOAD=$$($(CC) -print-file-name=libtsan.so) SOCKET2_SHIM=build/tsan/socket2/shim.so \
	  $(BUSTED) spec/unit/thread_spec.lua
	$(CC) $(TSAN_FLAGS) $(SHIM_CFLAGS) -Ispec/kqemu/include -shared -o build/tsan/socket2/shim_kqueue.so shim/kqueue.c $(SHIM_COMMON) $(KQEMU) -lpthread -ldl
	$(CC) $(TSAN_FLAGS) $(WARN) -DS2_TEST_KQUEUE -Ishim -Ispec/kqemu/include -o build/tsan/test_shared_kqueue shim/test/test_shared.c shim/kqueue.c $(SHIM_COMMON) $(KQEMU) -lpthread -ldl
	./build/tsan/test_shared_kqueue > /dev/null
	LD_PRELOAD=$$($(CC) -print-file-name=libtsan.so) SOCKET2_BACKEND=kqueue SOCKET2_SHIM=build/tsan/socket2/shim_kqueue.so \
	  $(BUSTED) spec/unit/thread_spec.lua

# valgrind over the thread tests alone (make valgrind runs the whole suite
# on epoll): the C tests of sharing and the thread spec, on epoll and on
# kqueue-over-emulation.
valgrind-threads: deps all kqueue build/test_shared
	@sh tools/deps.sh valgrind
	$(VALGRIND) ./build/test_shared > /dev/null
	$(VALGRIND) ./build/test_shared_kqueue > /dev/null
	$(VALGRIND_ENV) $(VALGRIND) $(BUSTED) spec/unit/thread_spec.lua
	SOCKET2_BACKEND=kqueue $(VALGRIND_ENV) $(VALGRIND) $(BUSTED) spec/unit/thread_spec.lua

lint: deps
	@command -v luacheck >/dev/null || sh tools/deps.sh lua-check
	luacheck --no-color -q lua spec examples
	$(CC) $(WARN) -fsyntax-only -Ishim -Ispec/kqemu/include $(filter-out $(WIN_ONLY),$(wildcard shim/*.c shim/test/*.c)) spec/kqemu/*.c
	@if command -v $(MINGW)gcc >/dev/null; then $(MINGW)gcc $(WIN_CFLAGS) -fsyntax-only $(WIN_ONLY); fi

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

# socket2 -- see README.md. `make test` and `make demo` install what they
# need from Debian when it is missing (tools/deps.sh). `make help` lists the
# targets.

PREFIX  ?= /usr/local
DESTDIR ?=
LUA_LIBDIR   ?= $(PREFIX)/lib/lua/5.1
LUA_SHAREDIR ?= $(PREFIX)/share/lua/5.1

CC      ?= gcc
CFLAGS  ?= -O2 -g
WARN     = -std=gnu11 -Wall -Wextra -Werror
LUAJIT  ?= luajit
BUSTED   = $(LUAJIT) /usr/bin/busted

export LUA_PATH := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;;
export LUA_CPATH := $(CURDIR)/?.so;;

# The one OS probe. PLAT=mingw cross-builds the Windows (IOCP) shim instead
# (see `win`). The default shim's backend: kqueue on macOS and FreeBSD (not
# tested there: README, "kqueue"), epoll elsewhere.
PLAT ?= $(shell uname -s | tr A-Z a-z)
BACKEND_SRC = $(if $(filter darwin freebsd,$(PLAT)),shim/kqueue.c,shim/epoll.c)

# ---- sources -------------------------------------------------------------
# A shim is one backend (epoll.c, kqueue.c, io_uring.c, iocp.c) plus the
# common sources; oserr_* and thread_* are picked per platform.
SHIM_COMMON = shim/common.c shim/lookup.c shim/shared.c shim/lthread.c shim/oserr_posix.c shim/thread_posix.c
SHIM_HDRS   = shim/socket2.h shim/s2_internal.h shim/s2_thread.h
SHIM_DEPS   = $(SHIM_COMMON) $(SHIM_HDRS)
SHIM_LIBS   = -lpthread -ldl
SHIM_CFLAGS = $(WARN) -fPIC -fvisibility=hidden -Ishim
SO_CFLAGS   = $(SHIM_CFLAGS) -shared
TEST_CFLAGS = $(WARN) -Ishim
TEST_HDRS   = shim/test/tap.h
# the kqueue backend builds on Linux over a test-only emulation (spec/kqemu)
KQEMU       = spec/kqemu/kqemu.c
KQEMU_DEPS  = $(KQEMU) spec/kqemu/include/sys/event.h
KQEMU_INC   = -Ispec/kqemu/include
# io_uring: a second Linux backend beside epoll, picked at run time with
# SOCKET2_BACKEND=io_uring; needs liburing-dev
HAVE_URING  = $(wildcard /usr/include/liburing.h)

SHIM        = socket2/shim.so
SHIM_URING  = socket2/shim_io_uring.so
KQ_SHIM     = socket2/shim_kqueue.so

# $(call shim,FLAGS,BACKEND[,EXTRA SOURCES][,EXTRA LIBS]): links $@ from one
# backend, the common sources and EXTRA (a test's main, the emulation).
define shim
@mkdir -p $(@D)
$(CC) $(1) -o $@ $(2) $(SHIM_COMMON) $(3) $(SHIM_LIBS) $(4)
endef

# Build variants: plain in build/, sanitizers and fuzzing in build/asan,
# build/tsan, build/fuzz. Every C test program and variant shim below is a
# pattern rule over them (DIR/test_shim, DIR/socket2/shim.so, ...), with the
# flags of its directory.
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
TSAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=thread
FUZZ_CC   ?= clang
FUZZ_FLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
flags.build      = $(CFLAGS)
flags.build/asan = $(ASAN_FLAGS)
flags.build/tsan = $(TSAN_FLAGS)
flags.build/fuzz = $(FUZZ_FLAGS)
build/fuzz/%: CC = $(FUZZ_CC)

.PHONY: all deps kqueue test test-c test-lua demo asan tsan valgrind valgrind-threads fuzz fuzz-tools lint \
  clean install uninstall bench bench-threads bench-tls win win-setup win-tls win-libs test-win help

## all: the shim (socket2/shim.so; shim_io_uring.so beside it when liburing is there)
ifeq ($(PLAT),mingw)
all: win
else
all: $(SHIM) $(if $(HAVE_URING),$(SHIM_URING))
endif

## help: this list
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

## deps: installs what building and testing need, from Debian
deps:
	@sh tools/deps.sh

# ---- the shims -------------------------------------------------------------

$(SHIM):       $(BACKEND_SRC) $(SHIM_DEPS)              ; $(call shim,$(CFLAGS) $(SO_CFLAGS),$<)
$(SHIM_URING): shim/io_uring.c $(SHIM_DEPS)             ; $(call shim,$(CFLAGS) $(SO_CFLAGS),$<,,-luring)
$(KQ_SHIM):    shim/kqueue.c $(SHIM_DEPS) $(KQEMU_DEPS) ; $(call shim,$(CFLAGS) $(SO_CFLAGS) $(KQEMU_INC),$<,$(KQEMU))
%/socket2/shim.so:           shim/epoll.c $(SHIM_DEPS)    ; $(call shim,$(flags.$*) $(SO_CFLAGS),$<)
%/socket2/shim_io_uring.so:  shim/io_uring.c $(SHIM_DEPS) ; $(call shim,$(flags.$*) $(SO_CFLAGS),$<,,-luring)
%/socket2/shim_kqueue.so:    shim/kqueue.c $(SHIM_DEPS) $(KQEMU_DEPS)
	$(call shim,$(flags.$*) $(SO_CFLAGS) $(KQEMU_INC),$<,$(KQEMU))

# kqueue.c also compiles in the macOS struct layout
build/kqueue_macos.o: shim/kqueue.c $(SHIM_HDRS) $(KQEMU_DEPS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SHIM_CFLAGS) $(KQEMU_INC) -DKQEMU_LAYOUT_MACOS -c -o $@ $<

# ---- the C tests (TAP) -------------------------------------------------------

%/test_shim:         shim/test/test_shim.c shim/epoll.c $(SHIM_DEPS) $(TEST_HDRS)
	$(call shim,$(flags.$*) $(TEST_CFLAGS),shim/epoll.c,$<)
%/test_shared:       shim/test/test_shared.c shim/epoll.c $(SHIM_DEPS) $(TEST_HDRS)
	$(call shim,$(flags.$*) $(TEST_CFLAGS),shim/epoll.c,$<)
%/test_io_uring:     shim/test/test_io_uring.c shim/test/refuse_uring.h shim/io_uring.c $(SHIM_DEPS) $(TEST_HDRS)
	$(call shim,$(flags.$*) $(TEST_CFLAGS),shim/io_uring.c,$<,-luring)
%/test_kqueue_shim:  shim/test/test_kqueue_shim.c shim/kqueue.c $(SHIM_DEPS) $(KQEMU_DEPS) $(TEST_HDRS)
	$(call shim,$(flags.$*) $(TEST_CFLAGS) $(KQEMU_INC),shim/kqueue.c,$< $(KQEMU))
%/test_shared_kqueue: shim/test/test_shared.c shim/kqueue.c $(SHIM_DEPS) $(KQEMU_DEPS) $(TEST_HDRS)
	$(call shim,$(flags.$*) $(TEST_CFLAGS) $(KQEMU_INC) -DS2_TEST_KQUEUE,shim/kqueue.c,$< $(KQEMU))
# the emulation's own tests, in both struct layouts (no shim)
%/test_kqemu:        spec/kqemu/test_kqemu.c $(KQEMU_DEPS) $(TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(flags.$*) $(WARN) -Ishim/test $(KQEMU_INC) -o $@ $< $(KQEMU) -lpthread
%/test_kqemu_macos:  spec/kqemu/test_kqemu.c $(KQEMU_DEPS) $(TEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(flags.$*) $(WARN) -Ishim/test $(KQEMU_INC) -DKQEMU_LAYOUT_MACOS -o $@ $< $(KQEMU) -lpthread

# helpers of the specs: a command run as if the kernel refused io_uring
# (spec/unit/backend_spec.lua); the shim unloaded under a lookup worker
# (spec/reliability/resolver_spec.lua)
build/no_io_uring:  shim/test/no_io_uring.c shim/test/refuse_uring.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -o $@ $<
build/unload_check: shim/test/unload_check.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -o $@ $< -ldl

## kqueue: the kqueue shim over the emulation (SOCKET2_BACKEND=kqueue) and its C tests
KQ_BUILD = $(KQ_SHIM) build/test_kqemu build/test_kqemu_macos build/kqueue_macos.o build/test_kqueue_shim \
  build/test_shared_kqueue
kqueue: $(KQ_BUILD)

# ---- Windows -----------------------------------------------------------------
# The IOCP shim cross-built with mingw-w64, tested under Wine with LuaJIT
# for Windows built from Debian's source (tools/wine/setup.sh: cached for
# the whole machine, linked into build/win).
MINGW      ?= x86_64-w64-mingw32-
WIN         = build/win
WIN_SHIM    = $(WIN)/lib/socket2/shim.dll
WIN_COMMON  = shim/common.c shim/lookup.c shim/shared.c shim/lthread.c shim/oserr_win.c shim/thread_win.c
WIN_CFLAGS  = -O2 -g $(WARN) -Ishim -D_WIN32_WINNT=0x0600
WIN_LIBS    = -lws2_32 -lntdll
WIN_ONLY    = shim/iocp.c shim/oserr_win.c shim/thread_win.c shim/test/test_iocp.c
$(WIN)/%: CC = $(MINGW)gcc
$(WIN)/%: SHIM_COMMON = $(WIN_COMMON)
$(WIN)/%: SHIM_LIBS = $(WIN_LIBS)

## win-setup: mingw-w64, Wine, LuaJIT and lfs for Windows, a Wine prefix (tools/wine/setup.sh)
win-setup:
	@sh tools/wine/setup.sh

## win: (or PLAT=mingw) the IOCP shim build/win/lib/socket2/shim.dll and build/win/test_iocp.exe
win: win-setup $(WIN_SHIM) $(WIN)/test_iocp.exe win-tls win-libs

# TLS under Wine: OpenSSL DLLs cross-built from Debian's source (cached in
# $${SOCKET2_CACHE:-/var/cache/socket2}/win: tools/wine/openssl.sh) and this
# run's certificates (Wine cannot run openssl)
win-tls: win-setup
	@sh tools/wine/openssl.sh
	@sh tools/tls/certs.sh build/tls/certs

# The compat layers under Wine: a PCRE2 DLL for ngx.re and LuaSocket's
# mime.core, cross-built from Debian's sources (cached beside OpenSSL's)
win-libs: win-setup
	@sh tools/wine/pcre2.sh
	@sh tools/wine/mime.sh

$(WIN_SHIM): shim/iocp.c $(WIN_COMMON) $(SHIM_HDRS)
	$(call shim,$(WIN_CFLAGS) -shared,$<)
$(WIN)/test_iocp.exe: shim/test/test_iocp.c shim/iocp.c $(WIN_COMMON) $(SHIM_HDRS) $(TEST_HDRS)
	$(call shim,$(WIN_CFLAGS),shim/iocp.c,$<)

## test-win: the Windows suites alone (make test runs them too)
test-win: win
	@sh tools/wine/run.sh $(WIN)/test_iocp.exe
	@sh tools/wine/busted.sh spec

# ---- make test -----------------------------------------------------------------
# Every suite prints TAP into build/test/NAME.tap (tools/run-suite.sh); the
# last line sums them all. The busted suite runs once per backend that can
# run here; when the kernel refuses io_uring, its suites report a skip that
# says why (tools/run-backend.sh). On epoll it also runs on the ASan+UBSan
# shim (LuaJIT loads libasan first through LD_PRELOAD). LeakSanitizer stays
# off under LuaJIT: its stop-the-world scan aborts in this sandbox once
# worker threads exist, and LuaJIT's own exit path reports a libc
# allocation; leaks are checked by `make valgrind`.
TEST_DEPS = luarocks iproute2 util-linux nftables librust-libc-dev
# socket2.tls: the peers its specs run against (spec/tls)
TLS_TEST_DEPS = openssl curl python3 gnutls-bin nginx-light wrk
TEST_DEPS    += $(TLS_TEST_DEPS)
C_BUILD   = build/test_shim build/test_shared build/test_io_uring $(KQ_BUILD)
LUA_BUILD = all $(SHIM_URING) $(KQ_SHIM) build/no_io_uring build/unload_check build/asan/socket2/shim.so
ASAN_RUN  = env LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0
TSAN_RUN  = env LD_PRELOAD=$$($(CC) -print-file-name=libtsan.so)

define c_suites
@sh tools/run-suite.sh shim-c build/test_shim
@sh tools/run-suite.sh shim-shared build/test_shared
@sh tools/run-suite.sh shim-io_uring-c build/test_io_uring
@sh tools/run-suite.sh kqemu-c build/test_kqemu
@sh tools/run-suite.sh kqemu-c-macos build/test_kqemu_macos
@sh tools/run-suite.sh kqueue-shim-c build/test_kqueue_shim
@sh tools/run-suite.sh kqueue-shared-c build/test_shared_kqueue
@sh tools/run-suite.sh shim-c-iocp sh tools/wine/run.sh $(WIN)/test_iocp.exe
endef
define lua_suites
@sh tools/run-suite.sh busted-epoll $(BUSTED) -o TAP spec
@SOCKET2_BACKEND=kqueue sh tools/run-suite.sh busted-kqueue $(BUSTED) -o TAP spec
@sh tools/run-suite.sh busted-asan $(ASAN_RUN) SOCKET2_SHIM=$(CURDIR)/build/asan/socket2/shim.so $(BUSTED) -o TAP spec
@sh tools/run-suite.sh busted-io_uring sh tools/run-backend.sh io_uring $(BUSTED) -o TAP spec
@sh tools/run-suite.sh busted-iocp sh tools/wine/busted.sh -o TAP spec
endef

## test: C tests + busted on epoll (plain and ASan+UBSan), io_uring, kqueue-over-emulation, IOCP under Wine
test: deps
	@sh tools/deps.sh $(TEST_DEPS)
	@$(MAKE) --no-print-directory $(C_BUILD) $(LUA_BUILD) win
	@rm -rf build/test
	$(c_suites)
	$(lua_suites)
	@sh tools/tap-summary.sh build/test/*.tap

# Compat (socket2.ngx, socket2.luasocket: issue 15): the servers and the
# libraries spec/compat runs against, from Debian. lua-nginx-redis,
# -memcached, -websocket and -redis-connector are never installed (they
# depend on nginx-extras, which pulls OpenResty's LuaJIT in and removes
# Debian's luajit): tools/compat/debs.sh fetches them with apt-get download
# (cached in $${SOCKET2_CACHE:-/var/cache/socket2}/debs) and unpacks them
# into build/compat. The bench row: bench/compat/run.sh.
COMPAT_TEST_DEPS  = redis-server memcached dnsmasq-base websocketd python3-dnslib lua-socket lua-sec lua-redis \
  lua-nginx-dns lua-nginx-kafka lua-nginx-string lua-nginx-cookie
COMPAT_BENCH_DEPS = redis-server redis-tools lua-socket lua-copas lua-redis
TEST_DEPS += $(COMPAT_TEST_DEPS)
LUA_BUILD += compat-libs
.PHONY: compat-libs bench-compat
compat-libs:
	@sh tools/compat/debs.sh build/compat
bench: bench-compat
## bench-compat: redis GET through nginx.redis on socket2.ngx vs redis-lua on LuaSocket and copas (client CPU)
bench-compat: all
	@sh tools/deps.sh $(COMPAT_BENCH_DEPS)
	@QUICK=$(QUICK) LUAJIT=$(LUAJIT) bash bench/compat/run.sh

## test-c: the C suites of make test alone
test-c: deps
	@$(MAKE) --no-print-directory $(C_BUILD) win
	@rm -rf build/test
	$(c_suites)
	@sh tools/tap-summary.sh build/test/*.tap

## test-lua: the busted suites of make test alone (every backend)
test-lua: deps
	@sh tools/deps.sh $(TEST_DEPS)
	@$(MAKE) --no-print-directory $(LUA_BUILD) win
	@rm -rf build/test
	$(lua_suites)
	@sh tools/tap-summary.sh build/test/*.tap

## demo: builds the shim and runs examples/demo.lua
demo: deps all
	$(LUAJIT) examples/demo.lua

# ---- sanitizers, valgrind, fuzzing -------------------------------------------------

# $(call tap,FILE,COMMAND...): runs a TAP suite into FILE, shows what is not
# "ok", fails when it fails
tap = $(2) > $(1); rc=$$?; grep -v '^ok ' $(1); exit $$rc

## asan: ASan + UBSan over the C tests (with LeakSanitizer) and the busted suite on epoll, kqueue, io_uring
ASAN_BUILD = $(addprefix build/asan/,socket2/shim.so socket2/shim_kqueue.so socket2/shim_io_uring.so \
  test_shim test_kqemu test_kqueue_shim test_io_uring)
asan: deps $(ASAN_BUILD)
	./build/asan/test_shim > /dev/null
	$(call tap,build/asan/busted.tap,$(ASAN_RUN) SOCKET2_SHIM=$(CURDIR)/build/asan/socket2/shim.so \
	  $(BUSTED) -o TAP spec)
	./build/asan/test_kqemu > /dev/null
	./build/asan/test_kqueue_shim > /dev/null
	$(call tap,build/asan/busted-kqueue.tap,$(ASAN_RUN) SOCKET2_BACKEND=kqueue \
	  SOCKET2_SHIM=$(CURDIR)/build/asan/socket2/shim_kqueue.so $(BUSTED) -o TAP spec)
	./build/asan/test_io_uring > /dev/null
	$(call tap,build/asan/busted-io_uring.tap,$(ASAN_RUN) SOCKET2_BACKEND=io_uring \
	  SOCKET2_SHIM=$(CURDIR)/build/asan/socket2/shim_io_uring.so $(BUSTED) -o TAP spec)

## tsan: ThreadSanitizer over the thread tests (C tests of sharing, the thread spec), epoll and kqueue
# luajit runs a TSan build of the shim; TSan exits 66 when it reports anything.
TSAN_BUILD = $(addprefix build/tsan/,socket2/shim.so socket2/shim_kqueue.so test_shared test_shared_kqueue)
tsan: deps $(TSAN_BUILD)
	./build/tsan/test_shared > /dev/null
	$(TSAN_RUN) SOCKET2_SHIM=build/tsan/socket2/shim.so $(BUSTED) spec/unit/thread_spec.lua
	./build/tsan/test_shared_kqueue > /dev/null
	$(TSAN_RUN) SOCKET2_BACKEND=kqueue SOCKET2_SHIM=build/tsan/socket2/shim_kqueue.so \
	  $(BUSTED) spec/unit/thread_spec.lua

# valgrind: any error, or a definitely lost block, fails (exit 99). No -joff
# is needed; two glibc items are suppressed (tools/valgrind.supp says why).
# Timing bounds in the specs are stretched (SOCKET2_TEST_SLOW) and the tests
# valgrind cannot host are skipped with the reason (SOCKET2_TEST_VALGRIND).
# Subprocesses that specs start (examples, namespaces) are not traced.
VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
  --show-leak-kinds=definite --keep-debuginfo=yes --suppressions=tools/valgrind.supp
VALGRIND_ENV = SOCKET2_TEST_VALGRIND=1 SOCKET2_TEST_SLOW=10

## valgrind: the C tests and the whole busted suite under valgrind (epoll)
valgrind: deps
	@sh tools/deps.sh valgrind
	@$(MAKE) --no-print-directory all build/test_shim
	@mkdir -p build/valgrind
	$(VALGRIND) --log-file=build/valgrind/test_shim.log ./build/test_shim > build/valgrind/test_shim.tap; \
	  rc=$$?; cat build/valgrind/test_shim.log; test $$rc = 0
	$(VALGRIND_ENV) $(VALGRIND) --log-file=build/valgrind/busted.log $(BUSTED) -o TAP spec \
	  > build/valgrind/busted.tap; rc=$$?; grep -v '^ok ' build/valgrind/busted.tap; \
	  cat build/valgrind/busted.log; test $$rc = 0

## valgrind-threads: the thread tests alone under valgrind, on epoll and kqueue
valgrind-threads: deps all kqueue build/test_shared
	@sh tools/deps.sh valgrind
	$(VALGRIND) ./build/test_shared > /dev/null
	$(VALGRIND) ./build/test_shared_kqueue > /dev/null
	$(VALGRIND_ENV) $(VALGRIND) $(BUSTED) spec/unit/thread_spec.lua
	SOCKET2_BACKEND=kqueue $(VALGRIND_ENV) $(VALGRIND) $(BUSTED) spec/unit/thread_spec.lua

# libFuzzer targets (clang): the shim's op validation (fuzz/fuzz_submit.c)
# and the Lua parsers through LuaJIT with Lua line coverage
# (fuzz/fuzz_lua.c + fuzz/lua_targets.lua: stream, addr). Each runs
# FUZZ_TIME seconds from fuzz/corpus/NAME; inputs that add coverage are
# merged back into fuzz/corpus/NAME (commit them). A finding stops make and
# is left in build/fuzz/findings/. The tls target (fuzz/tls_target.lua) runs
# without LeakSanitizer: OpenSSL objects only LuaJIT's heap points to (its
# own mmap'd arenas, which LSan does not scan) look lost to it.
FUZZ_TIME ?= 60
FUZZ_TARGETS = submit stream addr tls
FUZZ_BUILD = build/fuzz/fuzz_submit build/fuzz/socket2/shim.so build/fuzz/fuzz_lua

fuzz-tools:
	@command -v $(FUZZ_CC) >/dev/null || sh tools/deps.sh clang
	@sh tools/deps.sh libclang-rt-14-dev

build/fuzz/fuzz_submit: fuzz/fuzz_submit.c shim/epoll.c $(SHIM_DEPS)
	$(call shim,$(FUZZ_FLAGS) -fsanitize=fuzzer -Ishim,shim/epoll.c,$<)
build/fuzz/fuzz_lua: fuzz/fuzz_lua.c
	@mkdir -p $(@D)
	$(CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -I/usr/include/luajit-2.1 -o $@ $< -lluajit-5.1

## fuzz: each libFuzzer target for FUZZ_TIME seconds (default 60); new coverage goes to fuzz/corpus
fuzz: deps fuzz-tools $(FUZZ_BUILD)
	@mkdir -p build/fuzz/findings
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/work/$$t fuzz/corpus/$$t; \
	  if [ $$t = submit ]; then bin=build/fuzz/fuzz_submit; else bin=build/fuzz/fuzz_lua; fi; \
	  leaks=; [ $$t = tls ] && leaks=ASAN_OPTIONS=detect_leaks=0; \
	  run="env $$leaks S2FUZZ_TARGET=$$t SOCKET2_SHIM=$(CURDIR)/build/fuzz/socket2/shim.so $$bin"; \
	  echo "== fuzz $$t: $(FUZZ_TIME) s"; \
	  $$run -max_total_time=$(FUZZ_TIME) -artifact_prefix=build/fuzz/findings/$$t- -print_final_stats=1 \
	    build/fuzz/work/$$t fuzz/corpus/$$t > build/fuzz/$$t.log 2>&1; rc=$$?; \
	  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|Done [0-9]+ runs' \
	    build/fuzz/$$t.log; \
	  if [ $$rc != 0 ]; then tail -40 build/fuzz/$$t.log; echo "fuzz $$t: FINDING (build/fuzz/findings/)"; exit 1; fi; \
	  $$run -merge=1 fuzz/corpus/$$t build/fuzz/work/$$t > build/fuzz/$$t.merge.log 2>&1 || \
	    { tail build/fuzz/$$t.merge.log; exit 1; }; \
	  echo "fuzz $$t: no finding; corpus fuzz/corpus/$$t has $$(ls fuzz/corpus/$$t | wc -l) inputs"; \
	done

## lint: luacheck over the Lua code; the C sources compiled with warnings as errors (and for Windows)
lint: deps
	@command -v luacheck >/dev/null || sh tools/deps.sh lua-check
	luacheck --no-color -q lua spec examples
	$(CC) $(WARN) -fsyntax-only -Ishim -Ishim/test $(KQEMU_INC) \
	  $(filter-out $(WIN_ONLY),$(wildcard shim/*.c shim/test/*.c)) spec/kqemu/*.c
	@if command -v $(MINGW)gcc >/dev/null; then $(MINGW)gcc $(WIN_CFLAGS) -fsyntax-only $(WIN_ONLY); fi

# ---- benchmarks (never part of make test) --------------------------------------
BENCH_DEPS = redis-tools wrk lua-luv lua-cqueues lua-socket lua-copas linux-perf valgrind
BENCH_CFLAGS = -O2 -g $(WARN)

build/bench/c-server: bench/c/server.c
build/bench/c-client: bench/c/client.c
build/bench/load:     bench/threads/load.c
build/bench/c-server build/bench/c-client build/bench/load:
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

## bench: every workload x every server, one table (QUICK=1: one short run per point; README "Performance")
bench: bench-tls
	@sh tools/deps.sh $(BENCH_DEPS)
	@$(MAKE) --no-print-directory all build/bench/c-server build/bench/c-client
	@QUICK=$(QUICK) LUAJIT=$(LUAJIT) bash bench/run.sh

## bench-tls: the TLS workloads (HTTPS hello, handshakes, bulk) against C+OpenSSL, nginx, cqueues
TLS_BENCH_DEPS = openssl nginx-light wrk libssl-dev lua-cqueues lua-luaossl
bench-tls: all build/bench/c-client build/bench/tls-server build/bench/tls-client
	@sh tools/deps.sh $(TLS_BENCH_DEPS)
	@QUICK=$(QUICK) LUAJIT=$(LUAJIT) bash bench/tls/run.sh
build/bench/tls-%: bench/tls/%.c
	@sh tools/deps.sh libssl-dev
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lssl -lcrypto

## bench-threads: requests/s and CPU per request, 1 vs 2 OS threads on one epoll fd (SOCKET2_BACKEND=io_uring: attached rings)
bench-threads: all build/bench/load
	$(LUAJIT) bench/threads/run.lua

# ---- install --------------------------------------------------------------------

## install: the Lua files into $(LUA_SHAREDIR), the shim into $(LUA_LIBDIR)/socket2 (PREFIX, DESTDIR)
install: all
	install -d $(DESTDIR)$(LUA_LIBDIR)/socket2
	install -m 0755 $(SHIM) $(DESTDIR)$(LUA_LIBDIR)/socket2/shim.so
	$(if $(HAVE_URING),install -m 0755 $(SHIM_URING) $(DESTDIR)$(LUA_LIBDIR)/socket2/shim_io_uring.so)
	cd lua && for f in $$(find . -name '*.lua'); do \
	  install -D -m 0644 $$f $(DESTDIR)$(LUA_SHAREDIR)/$$f || exit 1; done

## uninstall: removes what install put there
uninstall:
	rm -rf $(DESTDIR)$(LUA_LIBDIR)/socket2 $(DESTDIR)$(LUA_SHAREDIR)/socket2 $(DESTDIR)$(LUA_SHAREDIR)/socket2.lua

## clean: removes socket2/ and build/ (the machine's cache of Windows builds stays)
clean:
	rm -rf socket2 build

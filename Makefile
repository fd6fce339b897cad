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

.PHONY: all deps test test-c test-lua demo asan valgrind fuzz lint clean install uninstall

all: $(SHIM)

deps:
	@sh tools/deps.sh

$(SHIM): shim/epoll.c $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p socket2
	$(CC) $(CFLAGS) $(SHIM_CFLAGS) -shared -o $@ shim/epoll.c $(SHIM_COMMON) -lpthread

build/test_shim: shim/test/test_shim.c shim/epoll.c $(SHIM_COMMON) $(SHIM_HDRS)
	@mkdir -p build
	$(CC) $(CFLAGS) $(WARN) -Ishim -o $@ shim/test/test_shim.c shim/epoll.c $(SHIM_COMMON) -lpthread

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
	$(CC) $(ASAN_FLAGS) $(SHIM_CFLAGS) -shared -o $@ shim/epoll.c $(SHIM_COMMON) -lpthread

# Every suite prints TAP into build/test/; the last line sums them all. The
# busted suite runs twice: plainly, and on the ASan+UBSan shim (about 30 s).
TEST_DEPS = luarocks iproute2 util-linux nftables
test: deps
	@sh tools/deps.sh $(TEST_DEPS)
	@$(MAKE) --no-print-directory all build/test_shim $(ASAN_SHIM)
	@rm -rf build/test
	@sh tools/run-suite.sh shim-c build/test_shim
	@sh tools/run-suite.sh busted-epoll $(BUSTED) -o TAP spec
	@sh tools/run-suite.sh busted-asan $(ASAN_RUN) $(BUSTED) -o TAP spec
	@sh tools/tap-summary.sh build/test/*.tap

test-c: build/test_shim
	./build/test_shim

test-lua: all
	$(BUSTED) spec

demo: deps all
	$(LUAJIT) examples/demo.lua

# ASan + UBSan over the C tests (with LeakSanitizer) and the whole busted
# suite (see ASAN_RUN above).
asan: deps $(ASAN_SHIM)
	$(CC) $(ASAN_FLAGS) $(WARN) -Ishim -o build/asan/test_shim shim/test/test_shim.c shim/epoll.c $(SHIM_COMMON) -lpthread
	./build/asan/test_shim > /dev/null
	$(ASAN_RUN) $(BUSTED) -o TAP spec > build/asan/busted.tap; \
	  rc=$$?; grep -v '^ok ' build/asan/busted.tap; exit $$rc

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
# is left in build/fuzz/findings/.
FUZZ_TIME ?= 60
FUZZ_CC   ?= clang
FUZZ_FLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS = submit stream addr
fuzz: deps
	@command -v $(FUZZ_CC) >/dev/null || sh tools/deps.sh clang
	@sh tools/deps.sh libclang-rt-14-dev
	@mkdir -p build/fuzz/socket2 build/fuzz/findings
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -Ishim -o build/fuzz/fuzz_submit fuzz/fuzz_submit.c \
	  shim/epoll.c $(SHIM_COMMON) -lpthread
	$(FUZZ_CC) $(FUZZ_FLAGS) $(SHIM_CFLAGS) -shared -o build/fuzz/socket2/shim.so shim/epoll.c $(SHIM_COMMON) -lpthread
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -I/usr/include/luajit-2.1 -o build/fuzz/fuzz_lua fuzz/fuzz_lua.c -lluajit-5.1
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/work/$$t fuzz/corpus/$$t; \
	  if [ $$t = submit ]; then bin=build/fuzz/fuzz_submit; else bin=build/fuzz/fuzz_lua; fi; \
	  echo "== fuzz $$t: $(FUZZ_TIME) s"; \
	  S2FUZZ_TARGET=$$t SOCKET2_SHIM=$(CURDIR)/build/fuzz/socket2/shim.so $$bin -max_total_time=$(FUZZ_TIME) \
	    -artifact_prefix=build/fuzz/findings/$$t- -print_final_stats=1 \
	    build/fuzz/work/$$t fuzz/corpus/$$t > build/fuzz/$$t.log 2>&1; rc=$$?; \
	  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|Done [0-9]+ runs' build/fuzz/$$t.log; \
	  if [ $$rc != 0 ]; then tail -40 build/fuzz/$$t.log; echo "fuzz $$t: FINDING (build/fuzz/findings/)"; exit 1; fi; \
	  S2FUZZ_TARGET=$$t SOCKET2_SHIM=$(CURDIR)/build/fuzz/socket2/shim.so $$bin -merge=1 \
	    fuzz/corpus/$$t build/fuzz/work/$$t > build/fuzz/$$t.merge.log 2>&1 || { tail build/fuzz/$$t.merge.log; exit 1; }; \
	  echo "fuzz $$t: no finding; corpus fuzz/corpus/$$t has $$(ls fuzz/corpus/$$t | wc -l) inputs"; \
	done

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

/* fuzz/fuzz_lua.c -- libFuzzer driving LuaJIT: coverage-guided fuzzing of
 * socket2's Lua-side parsers. The C part only embeds LuaJIT; the targets
 * are Lua functions in fuzz/lua_targets.lua (S2FUZZ_TARGET picks one:
 * stream, addr). Coverage of Lua code reaches libFuzzer through its
 * "extra counters": the driver's line hook bumps s2fuzz_counters[] for
 * every (previous line, line) edge it runs, so new Lua paths count as new
 * features. A target that raises an error is a finding: the harness prints
 * it and aborts, and libFuzzer saves the input. */
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#define NCOUNTERS (1 << 16)
__attribute__((section("__libfuzzer_extra_counters")))
uint8_t s2fuzz_counters[NCOUNTERS];

static lua_State *L;
static int target_ref = LUA_NOREF;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *driver = getenv("S2FUZZ_DRIVER");
    const char *target = getenv("S2FUZZ_TARGET");
    (void)argc; (void)argv;
    if (!driver) driver = "fuzz/lua_targets.lua";
    if (!target) { fprintf(stderr, "fuzz_lua: set S2FUZZ_TARGET (stream, addr)\n"); exit(2); }
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_pushlightuserdata(L, s2fuzz_counters);
    lua_setglobal(L, "S2FUZZ_COUNTERS");
    lua_pushinteger(L, NCOUNTERS);
    lua_setglobal(L, "S2FUZZ_NCOUNTERS");
    if (luaL_dofile(L, driver) != 0) {
        fprintf(stderr, "fuzz_lua: %s\n", lua_tostring(L, -1));
        exit(2);
    }
    lua_getfield(L, -1, target);
    if (!lua_isfunction(L, -1)) { fprintf(stderr, "fuzz_lua: no target '%s'\n", target); exit(2); }
    target_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, target_ref);
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 0, 0) != 0) {
        fprintf(stderr, "fuzz_lua: finding: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, 0);
    return 0;
}

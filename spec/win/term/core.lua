-- spec/win/term/core.lua: TEST-ONLY stand-in for lua-term's C module under
-- Wine (Debian's archive does not serve its full source here). busted only
-- asks whether stdout is a terminal; under the test runner it never is.
return {isatty = function() return false end}

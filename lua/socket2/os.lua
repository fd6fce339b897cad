-- socket2/os.lua: picks the OS file once; nothing else asks which OS it is.
local ffi = require'ffi'
local name = ffi.os == 'Windows' and 'windows'
  or (ffi.os == 'OSX' or ffi.os == 'BSD') and 'bsd'
  or 'linux'
return require('socket2.os.' .. name)

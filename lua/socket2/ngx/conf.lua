-- socket2/ngx/conf.lua: what nginx.conf directives set for cosockets and
-- the ngx.* helpers, here one table (require'socket2.ngx'.conf), read at
-- every use: change a field and later calls follow it. Times in
-- milliseconds, as in the directives; the defaults are nginx's.
return {
  connect_timeout = 60000,   -- lua_socket_connect_timeout
  send_timeout = 60000,      -- lua_socket_send_timeout
  read_timeout = 60000,      -- lua_socket_read_timeout
  keepalive_timeout = 60000, -- lua_socket_keepalive_timeout (0: unlimited)
  pool_size = 30,            -- lua_socket_pool_size
  buffer_size = 4096,        -- lua_socket_buffer_size (the receive buffer grows as needed)
  ssl_trusted_certificate = nil, -- lua_ssl_trusted_certificate: a PEM file; nil: the system store
  ssl_verify_depth = nil,    -- lua_ssl_verify_depth (nil: OpenSSL's default)
  log_level = 4,             -- error_log's level: ngx.log prints levels <= this (4 = ngx.ERR)
  log = nil,                 -- function(level, msg): where ngx.log writes (nil: stderr)
}

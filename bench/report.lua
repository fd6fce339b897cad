-- bench/report.lua DIR [SYSCALL_METHOD]: prints the benchmark table (markdown)
-- from DIR/results.tsv, syscalls.tsv, callgrind.tsv and checks.txt, as
-- written by bench/run.sh.
local dir = arg[1] or 'build/bench'
local sys_method = arg[2] or 'perf'

local function lines(name)
  local f = io.open(dir .. '/' .. name)
  if not f then return function() end end
  local t = {}
  for l in f:lines() do t[#t + 1] = l end
  f:close()
  local i = 0
  return function() i = i + 1; return t[i] end
end

local function split(l)
  local t = {}
  for v in l:gmatch'[^\t]+' do t[#t + 1] = v end
  return t
end

-- servers in this order; others (socket2@NAME: a shim build compared in
-- the same run) after them, in the order they first appear
local SERVERS = {'c', 'bare', 'socket2', 'socket2-uring', 'luv', 'cqueues', 'copas'}
local SERVER_NAME = {c = 'C', bare = 'bare', socket2 = 'socket2 epoll', ['socket2-uring'] = 'socket2 io_uring',
                     luv = 'luv', cqueues = 'cqueues', copas = 'copas'}
local function saw_server(s)
  if not SERVER_NAME[s] then
    SERVER_NAME[s] = s
    SERVERS[#SERVERS + 1] = s
  end
end

-- workload -> how to show it. scale_rate: units/s -> shown; scale_cpu:
-- cpu seconds per unit -> shown
local WORKLOADS = {
  {id = 'resp', name = 'RESP ping', rate = 'k req/s', cpu = 'us/req', rs = 1e-3, cs = 1e6},
  {id = 'resp16', name = 'RESP ping -P 16', rate = 'k req/s', cpu = 'us/req', rs = 1e-3, cs = 1e6},
  {id = 'http', name = 'HTTP hello', rate = 'k req/s', cpu = 'us/req', rs = 1e-3, cs = 1e6},
  {id = 'bulk-sink', name = 'bulk sink', rate = 'GB/s', cpu = 'ms/GB', rs = 1e-9, cs = 1e12},
  {id = 'bulk-source', name = 'bulk source', rate = 'GB/s', cpu = 'ms/GB', rs = 1e-9, cs = 1e12},
  {id = 'churn', name = 'churn', rate = 'k conn/s', cpu = 'us/conn', rs = 1e-3, cs = 1e6},
}

-- results[workload][server] = {rates = {...}, cpus = {...}, by_run = {run = cpu}}
local results = {}
for l in lines'results.tsv' do
  local f = split(l)
  local w, s, run, units, secs, cpu = f[1], f[2], f[3], tonumber(f[4]), tonumber(f[5]), tonumber(f[6])
  if units and secs and cpu and secs > 0 then
    saw_server(s)
    results[w] = results[w] or {}
    local r = results[w][s] or {rates = {}, cpus = {}, by_run = {}}
    results[w][s] = r
    r.rates[#r.rates + 1] = units / secs
    r.cpus[#r.cpus + 1] = cpu / units
    r.by_run[run] = cpu / units
  end
end

local function stats(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  local med = n % 2 == 1 and s[(n + 1) / 2] or (s[n / 2] + s[n / 2 + 1]) / 2
  return med, s[1], s[n], n
end

local function num(v)
  if v >= 100 then return ('%.0f'):format(v)
  elseif v >= 10 then return ('%.1f'):format(v)
  else return ('%.2f'):format(v) end
end

local function cell(t, scale)
  local med, lo, hi, n = stats(t)
  if not med then return '-' end
  if n == 1 then return num(med * scale) end
  return ('%s [%s-%s]'):format(num(med * scale), num(lo * scale), num(hi * scale))
end

local out = {}
local function p(s) out[#out + 1] = s or '' end

p('### Server CPU per request (lower is better) and throughput')
p()
p('median [min-max] over the runs; x C, x bare: ratio of the median server CPU per unit to that')
p('of C and bare; x epoll (socket2 on other backends or builds): the median of the ratios to')
p('socket2 on epoll run by run (each run measures every server in turn, so the load of the')
p('machine moves less within a run than across runs), and in how many runs it was lower')
p()
p('| workload | server | throughput | server CPU | x C | x bare | x epoll |')
p('|---|---|---|---|---|---|---|')
local function ratio(med, ref) return ref and ('%.2f'):format(med / ref) or '-' end
-- x epoll: median of the per-run ratios r.by_run[run] / ref.by_run[run]
local function paired(r, ref)
  if not ref or r == ref then return '-' end
  local rs, lower = {}, 0
  for run, v in pairs(r.by_run) do
    local e = ref.by_run[run]
    if e then
      rs[#rs + 1] = v / e
      if v < e then lower = lower + 1 end
    end
  end
  local med = stats(rs)
  if not med then return '-' end
  return #rs == 1 and ('%.2f'):format(med) or ('%.2f (%d/%d lower)'):format(med, lower, #rs)
end
for _, w in ipairs(WORKLOADS) do
  local rw = results[w.id]
  if rw then
    local cmed = rw.c and stats(rw.c.cpus)
    local bmed = rw.bare and stats(rw.bare.cpus)
    for _, s in ipairs(SERVERS) do
      local r = rw[s]
      if r then
        local med = stats(r.cpus)
        p(('| %s | %s | %s %s | %s %s | %s | %s | %s |'):format(w.name, SERVER_NAME[s],
          cell(r.rates, w.rs), w.rate, cell(r.cpus, w.cs), w.cpu,
          ratio(med, cmed), ratio(med, bmed), s:match'^socket2.' and paired(r, rw.socket2) or '-'))
      end
    end
  end
end

-- syscalls per request / per connection
local sys = {} -- workload -> server -> {total, units, by}
for l in lines'syscalls.tsv' do
  local f = split(l)
  local s, name, units, count, w = f[1], f[2], tonumber(f[3]), tonumber(f[4]), f[5] or 'resp'
  saw_server(s)
  sys[w] = sys[w] or {}
  local r = sys[w][s] or {total = 0, units = units, by = {}}
  sys[w][s] = r
  r.total = r.total + count
  r.by[#r.by + 1] = {name, count}
end
local method = sys_method == 'perf' and 'perf stat on the syscalls:sys_enter_* tracepoints of the server'
  or 'FALLBACK: strace -c -f, which slows the server and changes its batching'
for _, w in ipairs{{'resp', 'request, RESP ping without pipelining', 'req'},
                   {'churn', 'connection, churn', 'conn'}} do
  local sw = sys[w[1]]
  if sw then
    p()
    p(('### Syscalls per %s (%s)'):format(w[2], method))
    p()
    p(('| server | syscalls/%s | x C | by syscall |'):format(w[3]))
    p('|---|---|---|---|')
    local csys = sw.c and sw.c.total / sw.c.units
    for _, s in ipairs(SERVERS) do
      local r = sw[s]
      if r then
        table.sort(r.by, function(a, b) return a[2] > b[2] end)
        local parts = {}
        for i, v in ipairs(r.by) do
          if v[2] / r.units >= 0.005 or i <= 3 then parts[#parts + 1] = ('%s %.2f'):format(v[1], v[2] / r.units) end
        end
        local per = r.total / r.units
        p(('| %s | %.2f | %s | %s |'):format(SERVER_NAME[s], per,
          csys and ('%.2f'):format(per / csys) or '-', table.concat(parts, ', ')))
      end
    end
  end
end

-- callgrind
local cg = {}
for l in lines'callgrind.tsv' do
  local f = split(l)
  cg[f[1]] = tonumber(f[3]) / tonumber(f[2])
  saw_server(f[1])
end
if next(cg) then
  p()
  p('### User-space instructions per request (callgrind), RESP multibulk ping without pipelining')
  p()
  p('Counted after a warm-up of the same size; the count does not depend on the load of the')
  p('machine, but LuaJIT\'s trace formation varies from run to run (socket2 has measured 2,700 to')
  p('4,900 on the same code). The server runs ~50x slower under valgrind, so each wait')
  p('returns more events than in the timed runs; the kernel\'s share is in the syscall tables.')
  p()
  p('| server | instructions/req | x C | x bare |')
  p('|---|---|---|---|')
  for _, s in ipairs(SERVERS) do
    if cg[s] then
      p(('| %s | %.0f | %s | %s |'):format(SERVER_NAME[s], cg[s],
        cg.c and ('%.2f'):format(cg[s] / cg.c) or '-', cg.bare and ('%.2f'):format(cg[s] / cg.bare) or '-'))
    end
  end
end

-- allocation / trace checks
local checks = {}
for l in lines'checks.txt' do checks[#checks + 1] = l end
if #checks > 0 then
  p()
  p('### Allocation and trace checks (bench/alloc.lua)')
  p()
  p('```')
  for _, l in ipairs(checks) do p(l) end
  p('```')
end

local hdr = {}
for l in lines'header.txt' do hdr[#hdr + 1] = l end
io.write(table.concat(hdr, '\n'), '\n\n', table.concat(out, '\n'), '\n')

-- scripts/bench/s3/put.lua - wrk script of scripts/bench/s3.sh: PUT 4 KiB bodies to the
-- presigned paths listed in the file named by $WRK_PATHS (one "/bucket/key?query" a line),
-- each key once while the list lasts; the threads share the list out by line number.
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
  thread:set("nthreads", tonumber(os.getenv("WRK_THREADS") or "2"))
end
function init(args)
  paths = {}
  local n = 0
  for line in io.lines(os.getenv("WRK_PATHS")) do
    if n % nthreads == id then
      paths[#paths + 1] = line
    end
    n = n + 1
  end
  idx = 0
  body = string.rep("x", 4096)
end
function request()
  idx = idx % #paths + 1
  return wrk.format("PUT", paths[idx], nil, body)
end

-- GET a path template (args: ids_file template token) over the ids in the file, one per line, in rotation.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "summary.lua")

local threads, ids, template, headers, index = 0, {}, nil, {}, 0

function setup(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then ids[#ids + 1] = line end
  end
  template = args[2]
  if args[3] and args[3] ~= "" then headers["Authorization"] = "Bearer " .. args[3] end
  index = (thread_number * 7919) % #ids
end

function request()
  index = index % #ids + 1
  return wrk.format("GET", string.format(template, ids[index]), headers)
end

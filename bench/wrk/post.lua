-- POST a body read from a file (args: body_file content_type token); "{n}" in it becomes a per-request value.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "summary.lua")

local threads, body, headers, counter = 0, nil, nil, 0

function setup(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  body = file:read("*a")
  file:close()
  headers = {["Content-Type"] = args[2]}
  if args[3] and args[3] ~= "" then headers["Authorization"] = "Bearer " .. args[3] end
end

function request()
  counter = counter + 1
  local filled = body:gsub("{n}", thread_number .. "-" .. counter)
  return wrk.format("POST", nil, headers, filled)
end

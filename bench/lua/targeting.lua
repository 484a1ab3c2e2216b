-- ResolveBoolean of an if/in targeting flag (HTTP/JSON, Connect protocol).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"flagKey":"targeting-bool","context":{"targetingKey":"user-123","email":"ana@example.com","country":"NO","appVersion":"2.1.0","tier":"gold"}}'
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

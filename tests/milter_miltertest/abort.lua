-- ABORT in the middle of a message, then a second message on the same
-- connection: nothing of the first one may leak into the second. -D port=N.
local conn = mt.connect("inet:" .. port .. "@127.0.0.1", 20, 0.1)
if conn == nil then error("connect failed") end
if mt.negotiate(conn, 6, nil, nil) ~= nil then error("negotiate failed") end
if mt.conninfo(conn, "client.example.net", "192.0.2.10") ~= nil then error("conninfo failed") end
if mt.mailfrom(conn, "<first@example.org>") ~= nil then error("mailfrom failed") end
for _, r in ipairs({"<a@example.test>", "<b@example.test>", "<c@example.test>"}) do
  if mt.rcptto(conn, r) ~= nil then error("rcptto failed") end
  if mt.getreply(conn) ~= SMFIR_CONTINUE then error("rcpt: expected CONTINUE") end
end
if mt.header(conn, "Subject", "aborted") ~= nil then error("header failed") end
if mt.bodystring(conn, "0123456789") ~= nil then error("body failed") end
if mt.abort(conn) ~= nil then error("abort failed") end

if mt.mailfrom(conn, "<second@example.org>") ~= nil then error("mailfrom 2 failed") end
if mt.rcptto(conn, "<d@example.test>") ~= nil then error("rcptto 2 failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("rcpt 2: expected CONTINUE") end
if mt.bodystring(conn, "xyz") ~= nil then error("body 2 failed") end
if mt.eom(conn) ~= nil then error("eom failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("eom: expected CONTINUE") end
if not mt.eom_check(conn, MT_HDRADD, "X-Backstop-Test", "seen; size=3; rcpts=1") then
  error("state leaked across ABORT: " .. tostring(mt.getheader(conn, "X-Backstop-Test", 0)))
end
-- ABORT with no message open, then a third message
if mt.abort(conn) ~= nil then error("abort 2 failed") end
if mt.mailfrom(conn, "<third@example.org>") ~= nil then error("mailfrom 3 failed") end
if mt.rcptto(conn, "<e@example.test>") ~= nil then error("rcptto 3 failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("rcpt 3: expected CONTINUE") end
if mt.eom(conn) ~= nil then error("eom 3 failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("eom 3: expected CONTINUE") end
mt.disconnect(conn)
mt.echo("abort.lua passed")

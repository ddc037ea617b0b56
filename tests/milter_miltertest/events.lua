-- milter_testd -all-events: the filter decides at every event, so each one is
-- answered; HELO and RCPT refusals; QUARANTINE at end of message. -D port=N.
local conn = mt.connect("inet:" .. port .. "@127.0.0.1", 20, 0.1)
if conn == nil then error("connect failed") end
if mt.negotiate(conn, 6, nil, nil) ~= nil then error("negotiate failed") end
for _, o in ipairs({SMFIP_NR_CONN, SMFIP_NR_HELO, SMFIP_NR_MAIL, SMFIP_NR_RCPT, SMFIP_NR_HDR,
                    SMFIP_NR_EOH, SMFIP_NR_BODY, SMFIP_NOEOH, SMFIP_NOHDRS, SMFIP_NOBODY}) do
  if mt.test_option(conn, o) then error("option set although the filter decides: " .. o) end
end

mt.macro(conn, SMFIC_CONNECT, "j", "mx.example.test", "_", "client [192.0.2.10]")
if mt.conninfo(conn, "client.example.net", "192.0.2.10") ~= nil then error("conninfo failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("connect: expected CONTINUE") end
if mt.helo(conn, "client.example.net") ~= nil then error("helo failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("helo: expected CONTINUE") end
if mt.mailfrom(conn, "<sender@example.org>", "SIZE=100") ~= nil then error("mailfrom failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("mail: expected CONTINUE") end
if mt.rcptto(conn, "<hold@example.test>") ~= nil then error("rcptto failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("rcpt hold: expected CONTINUE") end
if mt.rcptto(conn, "<reject@example.test>") ~= nil then error("rcptto failed") end
if mt.getreply(conn) ~= SMFIR_REPLYCODE then error("rcpt reject: expected REPLYCODE") end
if mt.header(conn, "From", "sender@example.org") ~= nil then error("header failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("header: expected CONTINUE") end
if mt.eoh(conn) ~= nil then error("eoh failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("eoh: expected CONTINUE") end
if mt.bodystring(conn, "part one\r\n") ~= nil then error("body failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("body: expected CONTINUE") end
if mt.bodystring(conn, "part two\r\n") ~= nil then error("body failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("body 2: expected CONTINUE") end
if mt.eom(conn) ~= nil then error("eom failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("eom: expected CONTINUE") end
if not mt.eom_check(conn, MT_QUARANTINE, "test hold") then error("not quarantined") end
if not mt.eom_check(conn, MT_HDRADD, "X-Backstop-Test", "seen; size=20; rcpts=1") then
  error("header value: " .. tostring(mt.getheader(conn, "X-Backstop-Test", 0)))
end
mt.disconnect(conn)

-- a HELO the filter refuses: REPLYCODE for the session
local c2 = mt.connect("inet:" .. port .. "@127.0.0.1", 20, 0.1)
if mt.negotiate(c2, 6, nil, nil) ~= nil then error("negotiate 2 failed") end
if mt.conninfo(c2, "client.example.net", "192.0.2.11") ~= nil then error("conninfo 2 failed") end
if mt.getreply(c2) ~= SMFIR_CONTINUE then error("connect 2: expected CONTINUE") end
if mt.helo(c2, "reject.helo") ~= nil then error("helo 2 failed") end
if mt.getreply(c2) ~= SMFIR_REPLYCODE then error("helo reject.helo: expected REPLYCODE") end
mt.disconnect(c2)
mt.echo("events.lua passed")

-- Default milter_testd (no -all-events): negotiation, the no-reply flags, the
-- RCPT decisions, end-of-message modifications. Needs -D port=N.
local conn = mt.connect("inet:" .. port .. "@127.0.0.1", 20, 0.1)
if conn == nil then error("connect failed") end
if mt.negotiate(conn, 6, nil, nil) ~= nil then error("negotiate failed") end

-- asks only for what it uses
for _, a in ipairs({SMFIF_ADDHDRS, SMFIF_CHGFROM, SMFIF_QUARANTINE}) do
  if not mt.test_action(conn, a) then error("action not requested: " .. a) end
end
for _, a in ipairs({SMFIF_CHGBODY, SMFIF_ADDRCPT, SMFIF_DELRCPT, SMFIF_CHGHDRS}) do
  if mt.test_action(conn, a) then error("action requested without need: " .. a) end
end
-- no reply expected where the filter has nothing to say
for _, o in ipairs({SMFIP_NR_CONN, SMFIP_NR_HELO, SMFIP_NR_MAIL, SMFIP_NR_HDR, SMFIP_NR_BODY,
                    SMFIP_NOUNKNOWN, SMFIP_NODATA, SMFIP_NOEOH}) do
  if not mt.test_option(conn, o) then error("protocol option not set: " .. o) end
end
if mt.test_option(conn, SMFIP_NR_RCPT) then error("NR_RCPT set but the filter decides at RCPT") end

mt.macro(conn, SMFIC_CONNECT, "j", "mx.example.test", "{daemon_name}", "ORIGINATING")
if mt.conninfo(conn, "client.example.net", "192.0.2.10") ~= nil then error("conninfo failed") end
if mt.helo(conn, "client.example.net") ~= nil then error("helo failed") end
mt.macro(conn, SMFIC_MAIL, "{auth_authen}", "alice")
if mt.mailfrom(conn, "<changeme@example.org>") ~= nil then error("mailfrom failed") end

if mt.rcptto(conn, "<reject@example.test>") ~= nil then error("rcptto failed") end
if mt.getreply(conn) ~= SMFIR_REPLYCODE then error("reject@: expected REPLYCODE") end
if mt.rcptto(conn, "<tempfail@example.test>") ~= nil then error("rcptto failed") end
if mt.getreply(conn) ~= SMFIR_REPLYCODE then error("tempfail@: expected REPLYCODE") end
if mt.rcptto(conn, "<bob@example.test>") ~= nil then error("rcptto failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("bob@: expected CONTINUE") end

if mt.header(conn, "From", "changeme@example.org") ~= nil then error("header failed") end
if mt.header(conn, "Subject", "quiet") ~= nil then error("header failed") end
if mt.bodystring(conn, "hello\r\n") ~= nil then error("body failed") end
if mt.eom(conn) ~= nil then error("eom failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("eom: expected CONTINUE") end
if not mt.eom_check(conn, MT_HDRADD, "X-Backstop-Test", "seen; size=7; rcpts=1") then
  error("X-Backstop-Test not added with the expected value: " ..
        tostring(mt.getheader(conn, "X-Backstop-Test", 0)))
end
mt.echo("quiet.lua passed")
mt.disconnect(conn)

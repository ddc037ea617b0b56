#include "milter/codec.h"

#include <gtest/gtest.h>

namespace backstop::milter {
namespace {

std::string packet(char code, std::string_view payload) {
  std::string s;
  std::uint32_t len = static_cast<std::uint32_t>(payload.size() + 1);
  s.push_back(static_cast<char>(len >> 24));
  s.push_back(static_cast<char>(len >> 16));
  s.push_back(static_cast<char>(len >> 8));
  s.push_back(static_cast<char>(len));
  s.push_back(code);
  s.append(payload);
  return s;
}

std::vector<Command> all_commands() {
  return {
      OptNeg{6, 0x1ff, 0x1fffff},
      MacroDef{'C', {{"j", "mx.example.test"}, {"{daemon_name}", "ORIGINATING"}}},
      MacroDef{'H', {}},
      Connect{"client.example.net", '4', 25, "192.0.2.1"},
      Connect{"[2001:db8::1]", '6', 4025, "2001:db8::1"},
      Connect{"localhost", 'L', 0, "/var/run/sock"},
      Connect{"unknown", 'U', 0, ""},
      Helo{"client.example.net"},
      Mail{{"<>", "SIZE=100", "BODY=8BITMIME"}},
      Rcpt{{"<prvs=0123456789=user@example.test>"}},
      Data{},
      Header{"Subject", "multi\n\tline"},
      Header{"X-Empty", ""},
      Eoh{},
      Body{std::string("line\r\n\0binary\r\n", 16)},
      Body{""},
      Eob{},
      Abort{},
      Quit{},
      QuitNc{},
      Unknown{"XFOO bar"},
  };
}

std::vector<Response> all_responses() {
  return {
      OptNegReply{6, act::kChgFrom | act::kAddHdrs | act::kSetSymList, proto::kNrHdr,
                  {{MacroStage::kEnvFrom, "{auth_authen} i"}, {MacroStage::kConnect, "j _"}}},
      OptNegReply{6, 0, 0, {}},
      Simple{rsp::kContinue}, Simple{rsp::kAccept}, Simple{rsp::kReject},
      Simple{rsp::kTempfail}, Simple{rsp::kDiscard}, Simple{rsp::kProgress},
      Simple{rsp::kSkip}, Simple{rsp::kShutdown}, Simple{rsp::kConnFail},
      ReplyCode{"550 5.7.1 no"},
      AddHeader{"X-Backscatter", "kind=bounce"},
      InsHeader{0, "X-Top", "v"},
      ChgHeader{2, "Subject", ""},
      AddRcpt{"<a@b>"},
      AddRcptPar{"<a@b>", "NOTIFY=NEVER"},
      AddRcptPar{"<a@b>", std::nullopt},
      DelRcpt{"<prvs=1=a@b>"},
      ChgFrom{"<prvs=0791=sender@example.org>", std::nullopt},
      ChgFrom{"<s@x>", "RET=HDRS"},
      Quarantine{"backscatter"},
      ReplBody{"new body\r\n"},
  };
}

TEST(MilterCodec, EveryCommandRoundTripsBytewise) {
  std::string wire;
  const auto cmds = all_commands();
  for (const auto& c : cmds) ASSERT_TRUE(encode(c, wire).has_value());
  CommandDecoder d;
  std::vector<Command> got;
  for (char ch : wire) {  // worst case: one byte per feed
    d.feed(std::string_view(&ch, 1));
    for (;;) {
      auto r = d.next();
      ASSERT_TRUE(r.has_value()) << r.error().to_string();
      if (!r->has_value()) break;
      got.push_back(std::move(**r));
    }
  }
  EXPECT_EQ(got, cmds);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(MilterCodec, EveryResponseRoundTripsInOneChunk) {
  std::string wire;
  const auto rs = all_responses();
  for (const auto& r : rs) ASSERT_TRUE(encode(r, wire).has_value());
  ResponseDecoder d;
  d.feed(wire);
  std::vector<Response> got;
  for (;;) {
    auto r = d.next();
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    if (!r->has_value()) break;
    got.push_back(std::move(**r));
  }
  EXPECT_EQ(got, rs);
}

TEST(MilterCodec, KnownWireBytes) {
  std::string w;
  ASSERT_TRUE(encode(Command{Helo{"a"}}, w));
  EXPECT_EQ(w, std::string("\0\0\0\3Ha\0", 7));
  w.clear();
  ASSERT_TRUE(encode(Command{Connect{"h", '4', 0x1234, "1.2.3.4"}}, w));
  EXPECT_EQ(w, packet('C', std::string("h\0" "4\x12\x34" "1.2.3.4\0", 13)));
  w.clear();
  ASSERT_TRUE(encode(Response{Simple{rsp::kContinue}}, w));
  EXPECT_EQ(w, std::string("\0\0\0\1c", 5));
}

Result<std::optional<Command>> decode_one(std::string_view bytes) {
  CommandDecoder d;
  d.feed(bytes);
  return d.next();
}

TEST(MilterCodec, LengthZeroIsProtocolError) {
  auto r = decode_one(std::string("\0\0\0\0", 4));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kProtocol);
}

TEST(MilterCodec, HugeLengthRejectedBeforeAnyPayload) {
  // 2 GiB announced, nothing else sent: refused from the header alone.
  auto r = decode_one(std::string("\x80\0\0\0", 4));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kTooLarge);
  auto r2 = decode_one(std::string("\0\x10\0\x01", 4));  // kMaxPacket + 1
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().code(), Code::kTooLarge);
}

TEST(MilterCodec, PacketsOver64KiBUpToTheCapAreAccepted) {
  std::string value(200 * 1024, 'x');  // a header bigger than 64 KiB
  std::string w;
  ASSERT_TRUE(encode(Command{Header{"X-Big", value}}, w));
  auto r = decode_one(w);
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(std::get<Header>(**r).value.size(), value.size());
  // The largest allowed packet: length == kMaxPacket.
  std::string body(kMaxPacket - 1, 'b');
  w.clear();
  ASSERT_TRUE(encode(Command{Body{body}}, w));
  auto r2 = decode_one(w);
  ASSERT_TRUE(r2.has_value() && r2->has_value());
  // One more byte cannot even be encoded.
  body.push_back('b');
  w.clear();
  EXPECT_FALSE(encode(Command{Body{body}}, w).has_value());
  EXPECT_TRUE(w.empty());
}

TEST(MilterCodec, TruncatedPacketNeedsMore) {
  std::string w;
  ASSERT_TRUE(encode(Command{Header{"Subject", "hello"}}, w));
  CommandDecoder d;
  d.feed(std::string_view(w).substr(0, w.size() - 1));
  auto r = d.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
  d.feed(std::string_view(w).substr(w.size() - 1));
  auto r2 = d.next();
  ASSERT_TRUE(r2.has_value() && r2->has_value());
}

struct BadCase {
  const char* name;
  char code;
  std::string payload;
  Code want;
};

TEST(MilterCodec, MalformedFieldsAreErrors) {
  const BadCase cases[] = {
      {"unknown command", 'Z', "", Code::kProtocol},
      {"optneg short", 'O', std::string(8, '\0'), Code::kMalformed},
      {"optneg long", 'O', std::string(13, '\0'), Code::kMalformed},
      {"helo without NUL", 'H', "name", Code::kMalformed},
      {"helo leftover", 'H', std::string("a\0b", 3), Code::kMalformed},
      {"header without value", 'L', std::string("Subject\0", 8), Code::kMalformed},
      {"header leftover", 'L', std::string("a\0b\0c", 5), Code::kMalformed},
      {"mail empty", 'M', "", Code::kMalformed},
      {"mail unterminated", 'M', std::string("<a>\0SIZE", 8), Code::kMalformed},
      {"rcpt empty", 'R', "", Code::kMalformed},
      {"connect bad family", 'C', std::string("h\0X", 3), Code::kMalformed},
      {"connect no port", 'C', std::string("h\0" "4", 3), Code::kMalformed},
      {"connect no address", 'C', std::string("h\0" "4\0\x19", 5), Code::kMalformed},
      {"connect unknown with data", 'C', std::string("h\0Uxx", 5), Code::kMalformed},
      {"macro odd", 'D', std::string("Cj\0", 3), Code::kMalformed},
      {"macro no stage", 'D', "", Code::kMalformed},
      {"data with payload", 'T', "x", Code::kMalformed},
      {"eoh with payload", 'N', "x", Code::kMalformed},
      {"abort with payload", 'A', "x", Code::kMalformed},
      {"quit with payload", 'Q', "x", Code::kMalformed},
      {"quit_nc with payload", 'K', "x", Code::kMalformed},
      {"unknown unterminated", 'U', "XFOO", Code::kMalformed},
  };
  for (const auto& c : cases) {
    auto r = decode_one(packet(c.code, c.payload));
    ASSERT_FALSE(r.has_value()) << c.name;
    EXPECT_EQ(r.error().code(), c.want) << c.name;
  }
}

TEST(MilterCodec, DecoderStaysFailedAfterAnError) {
  CommandDecoder d;
  d.feed(packet('Z', ""));
  d.feed(packet('Q', ""));
  EXPECT_FALSE(d.next().has_value());
  EXPECT_FALSE(d.next().has_value());  // the stream is out of sync for good
}

TEST(MilterCodec, EncoderRefusesNulInsideStrings) {
  std::string w = "keep";
  EXPECT_FALSE(encode(Response{AddHeader{"X", std::string("a\0b", 3)}}, w).has_value());
  EXPECT_EQ(w, "keep");  // no partial packet left behind
  EXPECT_FALSE(encode(Command{Mail{{}}}, w).has_value());
  EXPECT_FALSE(encode(Response{Simple{'h'}}, w).has_value());
}

TEST(MilterCodec, ResponseDecoderErrors) {
  ResponseDecoder d;
  d.feed(packet('h', std::string("X\0", 2)));
  auto r = d.next();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Code::kMalformed);
  ResponseDecoder d2;
  d2.feed(packet('O', std::string(12, '\0') + std::string("\0\0\0\x09" "x\0", 6)));
  EXPECT_FALSE(d2.next().has_value());  // SETSYMLIST stage 9 does not exist
  ResponseDecoder d3;
  d3.feed(packet('c', "x"));
  EXPECT_FALSE(d3.next().has_value());
}

TEST(MilterCodec, IsFinal) {
  EXPECT_TRUE(is_final(Response{Simple{rsp::kReject}}));
  EXPECT_TRUE(is_final(Response{ReplyCode{"550 x"}}));
  EXPECT_FALSE(is_final(Response{Simple{rsp::kProgress}}));
  EXPECT_FALSE(is_final(Response{AddHeader{"a", "b"}}));
}

TEST(MilterReplyText, SingleLineAndPercentEscaping) {
  auto t = make_reply_text(550, "5.7.1", "100% backscatter");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, "550 5.7.1 100%% backscatter");
  auto t2 = make_reply_text(451, "", "try later");
  ASSERT_TRUE(t2.has_value());
  EXPECT_EQ(*t2, "451 try later");
  auto t3 = make_reply_text(550, "5.7.1", "");
  ASSERT_TRUE(t3.has_value());
  EXPECT_EQ(*t3, "550 5.7.1");
}

TEST(MilterReplyText, MultiLine) {
  auto t = make_reply_text(550, "5.7.1", "first\r\nsecond\nthird");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, "550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third");
}

TEST(MilterReplyText, ControlCharsLongLinesAndLineCount) {
  auto t = make_reply_text(550, "5.7.1", std::string("a\tb\0c", 5));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, "550 5.7.1 a b c");
  auto t2 = make_reply_text(550, "5.7.1", std::string(2000, '%'));
  ASSERT_TRUE(t2.has_value());
  EXPECT_LE(t2->size(), kMaxReplyLine);
  EXPECT_EQ(t2->size() % 2, (std::string("550 5.7.1 ").size()) % 2);  // never half a %%
  std::string many;
  for (int i = 0; i < 100; ++i) many += "line\n";
  auto t3 = make_reply_text(550, "5.7.1", many);
  ASSERT_TRUE(t3.has_value());
  std::size_t lines = 1;
  for (std::size_t p = 0; (p = t3->find("\r\n", p)) != std::string::npos; p += 2) ++lines;
  EXPECT_EQ(lines, kMaxReplyLines);
}

TEST(MilterReplyText, ValidatesCodes) {
  EXPECT_FALSE(make_reply_text(250, "", "ok").has_value());
  EXPECT_FALSE(make_reply_text(600, "", "x").has_value());
  EXPECT_FALSE(make_reply_text(550, "4.7.1", "class mismatch").has_value());
  EXPECT_FALSE(make_reply_text(451, "4.7", "short").has_value());
  EXPECT_FALSE(make_reply_text(451, "4.7.1234", "long detail").has_value());
  EXPECT_TRUE(make_reply_text(451, "4.3.0", "ok").has_value());
}

}  // namespace
}  // namespace backstop::milter

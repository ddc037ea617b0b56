// Milter protocol v6 wire constants and the limits this implementation applies.
// Reference: docs/reference/protocols.md §2 (our notes on libmilter's mfdef.h
// and Postfix milter8.c). Names follow the SMFIC_/SMFIR_/SMFIF_/SMFIP_ families.
#pragma once

#include <cstddef>
#include <cstdint>

namespace backstop::milter {

// The protocol version we speak. We answer min(MTA version, kVersion).
inline constexpr std::uint32_t kVersion = 6;
// Oldest MTA version we accept: v2 is the first with OPTNEG action/protocol masks.
inline constexpr std::uint32_t kMinVersion = 2;

// Commands MTA -> filter (SMFIC_*).
namespace cmd {
inline constexpr char kOptneg = 'O';
inline constexpr char kMacro = 'D';
inline constexpr char kConnect = 'C';
inline constexpr char kHelo = 'H';
inline constexpr char kMail = 'M';
inline constexpr char kRcpt = 'R';
inline constexpr char kData = 'T';
inline constexpr char kHeader = 'L';
inline constexpr char kEoh = 'N';
inline constexpr char kBody = 'B';
inline constexpr char kEob = 'E';
inline constexpr char kAbort = 'A';
inline constexpr char kQuit = 'Q';
inline constexpr char kQuitNc = 'K';
inline constexpr char kUnknown = 'U';
}  // namespace cmd

// Responses filter -> MTA (SMFIR_*).
namespace rsp {
inline constexpr char kContinue = 'c';
inline constexpr char kAccept = 'a';
inline constexpr char kReject = 'r';
inline constexpr char kTempfail = 't';
inline constexpr char kDiscard = 'd';
inline constexpr char kReplyCode = 'y';
inline constexpr char kShutdown = '4';
inline constexpr char kConnFail = 'f';
inline constexpr char kProgress = 'p';
inline constexpr char kSkip = 's';
inline constexpr char kQuarantine = 'q';
inline constexpr char kAddHeader = 'h';
inline constexpr char kInsHeader = 'i';
inline constexpr char kChgHeader = 'm';
inline constexpr char kAddRcpt = '+';
inline constexpr char kAddRcptPar = '2';
inline constexpr char kDelRcpt = '-';
inline constexpr char kChgFrom = 'e';
inline constexpr char kReplBody = 'b';
inline constexpr char kOptneg = 'O';
}  // namespace rsp

// Action flags (SMFIF_*): what the filter may do at end of message.
namespace act {
inline constexpr std::uint32_t kAddHdrs = 0x01;
inline constexpr std::uint32_t kChgBody = 0x02;
inline constexpr std::uint32_t kAddRcpt = 0x04;
inline constexpr std::uint32_t kDelRcpt = 0x08;
inline constexpr std::uint32_t kChgHdrs = 0x10;
inline constexpr std::uint32_t kQuarantine = 0x20;
inline constexpr std::uint32_t kChgFrom = 0x40;
inline constexpr std::uint32_t kAddRcptPar = 0x80;
inline constexpr std::uint32_t kSetSymList = 0x100;
inline constexpr std::uint32_t kAll = 0x1ff;
}  // namespace act

// Protocol flags (SMFIP_*): events not to send (NO*), events without reply (NR_*).
namespace proto {
inline constexpr std::uint32_t kNoConnect = 0x1;
inline constexpr std::uint32_t kNoHelo = 0x2;
inline constexpr std::uint32_t kNoMail = 0x4;
inline constexpr std::uint32_t kNoRcpt = 0x8;
inline constexpr std::uint32_t kNoBody = 0x10;
inline constexpr std::uint32_t kNoHdrs = 0x20;
inline constexpr std::uint32_t kNoEoh = 0x40;
inline constexpr std::uint32_t kNrHdr = 0x80;
inline constexpr std::uint32_t kNoUnknown = 0x100;
inline constexpr std::uint32_t kNoData = 0x200;
inline constexpr std::uint32_t kSkip = 0x400;
inline constexpr std::uint32_t kRcptRej = 0x800;
inline constexpr std::uint32_t kNrConn = 0x1000;
inline constexpr std::uint32_t kNrHelo = 0x2000;
inline constexpr std::uint32_t kNrMail = 0x4000;
inline constexpr std::uint32_t kNrRcpt = 0x8000;
inline constexpr std::uint32_t kNrData = 0x10000;
inline constexpr std::uint32_t kNrUnkn = 0x20000;
inline constexpr std::uint32_t kNrEoh = 0x40000;
inline constexpr std::uint32_t kNrBody = 0x80000;
inline constexpr std::uint32_t kHdrLeadSpc = 0x100000;
inline constexpr std::uint32_t kMds256K = 0x10000000;
inline constexpr std::uint32_t kMds1M = 0x20000000;
}  // namespace proto

// Macro stages for SETSYMLIST (SMFIM_*).
enum class MacroStage : std::uint32_t {
  kConnect = 0, kHelo = 1, kEnvFrom = 2, kEnvRcpt = 3, kData = 4, kEom = 5, kEoh = 6,
};
inline constexpr std::uint32_t kMacroStageCount = 7;

// ---- Limits -------------------------------------------------------------------
// Largest packet (length field, command byte included) we accept. Postfix caps
// body chunks at 64 KiB but not headers: one header may be header_size_limit
// (102400 by default) and SMFIP_MDS_1M lets Sendmail send 1 MiB chunks. 1 MiB
// covers both with room; anything larger is a peer error (kTooLarge), checked
// from the 4-byte length before a single byte of the packet is stored.
inline constexpr std::size_t kMaxPacket = 1024 * 1024;
// Length prefix size (MILTER_LEN_BYTES).
inline constexpr std::size_t kLenBytes = 4;
// SMTP reply lines: RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets
// including CRLF; libmilter's smfi_setmlreply allows at most 32 lines.
inline constexpr std::size_t kMaxReplyLine = 510;
inline constexpr std::size_t kMaxReplyLines = 32;

}  // namespace backstop::milter

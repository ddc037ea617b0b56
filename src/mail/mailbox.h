// Streaming readers for mail stores: mbox (mboxo and mboxrd "From " quoting),
// Maildir (cur/ and new/), MH folders, and single message files (.eml, .msg,
// anything else). LF or CRLF. Memory per reader is bounded by the size cap of
// one message, whatever the size of the store.
// Thread-safety: a MessageSource is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace backstop::mail {

// Largest message a reader hands out. Real mail is < 50 MiB; beyond this the
// message is reported as too large (its bytes skipped, not kept).
inline constexpr std::size_t kMaxMessageBytes = 64u << 20;

enum class StoreKind { kFile, kMbox, kMaildir, kMh, kDirectory };
const char* store_kind_name(StoreKind k) noexcept;

// One message read from a store.
struct RawMessage {
  std::string location;       // path of the file holding it
  std::size_t index = 0;      // 0-based number of the message in that file
  std::string envelope_from;  // from the mbox "From " line, if any ("" else; "<>" kept as "<>")
  std::string bytes;          // the message, "From " line removed and mboxrd unquoted
  std::uint64_t offset = 0;   // byte offset of the message in its file
};

// An error tied to one message or file; readers report it and go on.
struct ReadError {
  std::string location;
  std::size_t index = 0;
  Error error;
};

// Incremental mbox splitter: feed bytes in any chunking, get messages out.
// Pure: no I/O. `From ` lines start a message only at the start of input or
// after an empty line... see mbox_splitter.cc for the exact rule.
class MboxSplitter {
 public:
  explicit MboxSplitter(std::size_t max_message_bytes = kMaxMessageBytes);
  // Appends bytes; complete messages become available through next().
  void feed(std::string_view bytes);
  // Marks end of input; the last message becomes available.
  void finish();
  // Next complete message (bytes, envelope_from, index, offset), or an error
  // for a message over the size cap (its bytes are dropped), or nullopt when
  // more input is needed.
  std::optional<Result<RawMessage>> next();

 private:
  struct State;
  std::shared_ptr<State> s_;
};

// A stream of messages from one path (file, mbox, Maildir, MH or a directory
// tree holding any of them). next() returns messages until nullopt; a damaged
// message or unreadable file is a ReadError and the source goes on.
class MessageSource {
 public:
  virtual ~MessageSource() = default;
  virtual std::optional<expected<RawMessage, ReadError>> next() = 0;
};

// Detects the kind of `path` and opens it. kNotFound / kEnvironment errors
// when the path cannot be opened at all.
Result<std::unique_ptr<MessageSource>> open_source(const std::string& path,
                                                   std::size_t max_message_bytes = kMaxMessageBytes);

// Kind detection alone (for the scan summary and tests).
Result<StoreKind> detect_store(const std::string& path);

}  // namespace backstop::mail

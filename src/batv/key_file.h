// BATV key files. Format (text, one item per line):
//   # comment                 (ignored, as are blank lines)
//   <digit> <hex secret>      a key: digit 0-9, secret as an even number of hex
//                             digits, at most 64 bytes once decoded
//   sign <digit>              optional: the key that signs new tags
//                             (default: the first key listed)
// Example (generated on first use):
//   # backstop BATV keys ...
//   0 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//
// The parser is pure; the loader checks the file before trusting it: it must
// be a regular file (not a symlink) and have no group/world permission bits —
// otherwise kPermission. Thread-safety: free functions, no shared state.
#pragma once

#include <string>
#include <string_view>

#include "batv/batv.h"
#include "common/random.h"
#include "common/result.h"

namespace backstop::batv {

// A key file is a handful of lines; anything larger is not one.
inline constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;
// Generated secrets: 256 bits, well under the 64-byte HMAC block.
inline constexpr std::size_t kGeneratedSecretBytes = 32;

// kMalformed (with the line number) on a bad line, kInvalidArgument for a
// secret over 64 bytes or a repeated digit, kNotFound if there is no key.
Result<KeyRing> parse_key_file(std::string_view text);

// The text of a key file holding `secret` as key `key`.
std::string format_key_file(int key, std::string_view secret);

// Reads and parses `path`. kNotFound if absent; kPermission if it is not a
// regular file or is group/world accessible; kTooLarge over kMaxKeyFileBytes.
Result<KeyRing> load_key_file(const std::string& path);

// Loads `path`, or creates it first (mode 0600 whatever the umask,
// O_CREAT|O_EXCL, never following a symlink) with one key 0 of
// kGeneratedSecretBytes from `random`.
Result<KeyRing> load_or_create_key_file(const std::string& path, Random& random);

// Creates a new key file at `path` with one key 0 (mode 0600, never over an
// existing file: kInvalidArgument naming it). For `backstop batv keygen`.
Status create_key_file(const std::string& path, Random& random);

// The text of key file `text` with one more key, a fresh secret from
// `random`, made the signing key: the next free digit after the current
// signing key. The old keys stay, so tags signed with them verify until they
// expire. *new_key gets the digit. kInvalidArgument when all ten digits are in
// use (remove a retired key first); parse errors as parse_key_file. Pure but
// for `random`.
Result<std::string> rotated_key_file(std::string_view text, Random& random, int* new_key);

// Replaces `path` with `text` atomically (a temporary file in the same
// directory, mode 0600, fsynced, then renamed over it). Run as root, the new
// file keeps the old one's owner and group, so the user `backstop serve`
// runs as can still read it. For `batv rotate`.
Status replace_key_file(const std::string& path, std::string_view text);

// Reads `path` as load_key_file checks it, returning its text.
Result<std::string> read_key_file(const std::string& path);

}  // namespace backstop::batv

// Lints for the programs beside the MTA that answer mail after accepting it:
// amavisd-new (destinies and sender warnings), clamav-milter and ClamSMTP
// (notifications), and Sieve vacation scripts. Each parses just enough of
// its syntax from a string_view, with a size limit, and returns findings
// whose `where` is "file:line". Pure. Thread-safety: stateless functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "audit/finding.h"

namespace backstop::audit {

// A configuration file or Sieve script larger than this is not one (the
// whole Debian amavisd-new conf.d is 30 KiB); it is skipped with a note.
inline constexpr std::size_t kMaxScannerFileBytes = 1 << 20;
// Files read from one directory (conf.d, a Sieve directory).
inline constexpr std::size_t kMaxFilesPerDir = 1000;
// Sieve tokens looked at per script: a vacation script has a few hundred.
inline constexpr std::size_t kMaxSieveTokens = 100000;

struct NamedText {
  std::string name;  // file name for `where`
  std::string text;
};

// amavisd-new configuration files, in the order amavisd reads them (a later
// assignment wins): $final_{virus,banned,spam,bad_header}_destiny = D_BOUNCE
// or D_REJECT, $warn{virus,banned,spam,badh}sender true.
std::vector<Finding> lint_amavis(const std::vector<NamedText>& files);

// clamav-milter.conf (`Key Value`) or clamsmtpd.conf (`Key: value`), told
// apart by their syntax: ClamSMTP `Bounce: on` / `Action: bounce`, a
// VirusAction script in either.
std::vector<Finding> lint_clamav(const NamedText& file);

// One Sieve script: vacation without :days (or :seconds), with an interval
// under a day, or with no test of list and automated mail (List-Id,
// Precedence, Auto-Submitted...) anywhere in the script; reject/ereject
// after delivery.
std::vector<Finding> lint_sieve(const NamedText& script);

}  // namespace backstop::audit

#include "classify/verdict.h"

#include <array>

namespace backstop::classify {
namespace {
constexpr std::array<std::string_view, 6> kNames = {
    "none", "bounce", "virus_notice", "challenge", "subscription_confirm", "autoreply"};
}  // namespace

std::string_view kind_name(Kind k) noexcept {
  const auto i = static_cast<std::size_t>(k);
  return i < kNames.size() ? kNames[i] : std::string_view("none");
}

bool parse_kind(std::string_view name, Kind* out) noexcept {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) {
      *out = static_cast<Kind>(i);
      return true;
    }
  }
  return false;
}

}  // namespace backstop::classify

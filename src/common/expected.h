// backstop::expected / backstop::unexpected: std::expected where the standard
// library provides it (g++ 12 in C++23 mode), otherwise a small compatible
// subset for compilers whose front end cannot instantiate libstdc++'s
// <expected> (clang 14, used only for the libFuzzer build).
//
// Code in this project uses only the members defined in the fallback below:
// has_value, operator bool, value, error, operator*, operator->, value_or.
#pragma once

#if __has_include(<expected>)
#include <expected>
#endif

#if defined(__cpp_lib_expected) && __cpp_lib_expected >= 202202L

namespace backstop {
using std::expected;
using std::unexpected;
}  // namespace backstop

#else

#include <cstdlib>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace backstop {

template <class E>
class unexpected {
 public:
  template <class G = E>
  constexpr explicit unexpected(G&& e) : e_(std::forward<G>(e)) {}
  constexpr const E& error() const& noexcept { return e_; }
  constexpr E& error() & noexcept { return e_; }
  constexpr E&& error() && noexcept { return std::move(e_); }

 private:
  E e_;
};
template <class E>
unexpected(E) -> unexpected<E>;

// Minimal value-or-error holder. Accessing value() of an error (or error() of a
// value) is a broken invariant: the process aborts, as std::expected's
// preconditions would under a hardened library.
template <class T, class E>
class expected {
 public:
  using value_type = T;
  using error_type = E;

  constexpr expected() requires std::is_default_constructible_v<T> : v_(std::in_place_index<0>) {}
  template <class U = T>
    requires(!std::is_same_v<std::remove_cvref_t<U>, expected> &&
             std::is_constructible_v<T, U>)
  constexpr expected(U&& v) : v_(std::in_place_index<0>, std::forward<U>(v)) {}
  template <class G>
  constexpr expected(const unexpected<G>& u) : v_(std::in_place_index<1>, u.error()) {}
  template <class G>
  constexpr expected(unexpected<G>&& u) : v_(std::in_place_index<1>, std::move(u).error()) {}

  constexpr bool has_value() const noexcept { return v_.index() == 0; }
  constexpr explicit operator bool() const noexcept { return has_value(); }

  constexpr T& value() & { check(true); return *std::get_if<0>(&v_); }
  constexpr const T& value() const& { check(true); return *std::get_if<0>(&v_); }
  constexpr T&& value() && { check(true); return std::move(*std::get_if<0>(&v_)); }
  constexpr T& operator*() & { return value(); }
  constexpr const T& operator*() const& { return value(); }
  constexpr T&& operator*() && { return std::move(*this).value(); }
  constexpr T* operator->() { return &value(); }
  constexpr const T* operator->() const { return &value(); }
  constexpr E& error() & { check(false); return *std::get_if<1>(&v_); }
  constexpr const E& error() const& { check(false); return *std::get_if<1>(&v_); }
  constexpr E&& error() && { check(false); return std::move(*std::get_if<1>(&v_)); }
  template <class U>
  constexpr T value_or(U&& d) const& { return has_value() ? value() : static_cast<T>(std::forward<U>(d)); }

 private:
  constexpr void check(bool want_value) const {
    if (has_value() != want_value) std::abort();
  }
  std::variant<T, E> v_;
};

template <class E>
class expected<void, E> {
 public:
  using value_type = void;
  using error_type = E;
  constexpr expected() = default;
  template <class G>
  constexpr expected(const unexpected<G>& u) : e_(u.error()) {}
  template <class G>
  constexpr expected(unexpected<G>&& u) : e_(std::move(u).error()) {}
  constexpr bool has_value() const noexcept { return !e_.has_value(); }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  constexpr void value() const { if (e_) std::abort(); }
  constexpr const E& error() const& { if (!e_) std::abort(); return *e_; }
  constexpr E& error() & { if (!e_) std::abort(); return *e_; }
  constexpr E&& error() && { if (!e_) std::abort(); return std::move(*e_); }

 private:
  std::optional<E> e_;  // E need not be default-constructible
};

}  // namespace backstop

#endif

// backstop batv sign|verify ADDRESS: BATV prvs tags from the command line,
// byte-compatible with Exim's ${prvs}; --day pins "today" for reproducible runs.
// backstop batv keygen|rotate --key-file FILE: create a key file, or add a
// signing key to one (docs/operations.md, key rotation).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "batv/batv.h"
#include "batv/key_file.h"
#include "common/clock.h"
#include "common/random.h"

namespace backstop::app {
namespace {

struct BatvOptions {
  std::string address;
  std::string key_file;
  std::string secret;
  bool secret_given = false;
  int key_number = -1;
  int lifetime = batv::kDefaultLifetimeDays;
  long long day = -1;
  std::vector<std::string> domains;
};

int usage(const std::string& msg) {
  std::fprintf(stderr, "backstop batv: %s\n", msg.c_str());
  return 2;
}

// The key ring the options describe; for_signing creates a missing key file.
Result<batv::KeyRing> key_ring(const BatvOptions& o, bool for_signing) {
  if (o.secret_given == !o.key_file.empty()) {
    return fail(Code::kInvalidArgument, "give exactly one of --key-file FILE or --secret SECRET");
  }
  batv::KeyRing ring;
  if (o.secret_given) {
    if (o.key_number >= 0) {
      BACKSTOP_TRY(ring.add(o.key_number, o.secret));
    } else if (for_signing) {
      BACKSTOP_TRY(ring.add(0, o.secret));
    } else {
      // Like Exim's ${prvscheck}: one secret, whatever key digit the tag carries.
      for (int k = 0; k <= 9; ++k) BACKSTOP_TRY(ring.add(k, o.secret));
    }
    return ring;
  }
  auto loaded = for_signing ? batv::load_or_create_key_file(o.key_file, secure_random())
                            : batv::load_key_file(o.key_file);
  if (!loaded) return loaded;
  if (o.key_number < 0) return loaded;
  if (for_signing) {
    BACKSTOP_TRY(loaded->set_signing_key(o.key_number));
    return loaded;
  }
  const std::string* secret = loaded->find(o.key_number);
  if (!secret) return fail(Code::kInvalidArgument, "the key file has no key " + std::to_string(o.key_number));
  BACKSTOP_TRY(ring.add(o.key_number, *secret));
  return ring;
}

Status check_common(const BatvOptions& o) {
  if (o.lifetime < 0 || o.lifetime > batv::kMaxLifetimeDays) {
    return fail(Code::kInvalidArgument, "--lifetime must be 0-365 days");
  }
  if (o.key_number > 9) return fail(Code::kInvalidArgument, "--key-number must be 0-9");
  return {};
}

std::int64_t today(const BatvOptions& o) { return o.day >= 0 ? o.day : system_clock().unix_day(); }

void add_key_options(CLI::App* cmd, const std::shared_ptr<BatvOptions>& o) {
  cmd->add_option("address", o->address, "Envelope address (local@domain)")->required();
  cmd->add_option("--key-file", o->key_file, "Key file ('<digit> <hex>' lines; sign creates it, mode 0600)");
  cmd->add_option_function<std::string>(
      "--secret", [o](const std::string& s) { o->secret = s; o->secret_given = true; },
      "Secret given directly (at most 64 bytes)");
  cmd->add_option("--key-number", o->key_number, "Key digit 0-9 (sign: the key to use)")->check(CLI::Range(0, 9));
  cmd->add_option("--lifetime", o->lifetime, "Tag lifetime in days (default 7, as Exim)");
  cmd->add_option("--day", o->day, "UTC day number to use as today (default: the clock)")
      ->check(CLI::NonNegativeNumber);
}

int run_sign(const BatvOptions& o) {
  if (auto s = check_common(o); !s) return usage(s.error().message());
  auto ring = key_ring(o, true);
  if (!ring) return usage(ring.error().message());
  batv::SignerConfig config{o.domains, o.lifetime};
  const auto r = batv::sign(*ring, config, o.address, today(o));
  std::printf("%s\n", r.address.c_str());
  if (r.status != batv::SignStatus::kSigned) {
    std::fprintf(stderr, "backstop batv: not signed: %s\n",
                 std::string(batv::sign_status_name(r.status)).c_str());
    return 1;
  }
  return 0;
}

int run_verify(const BatvOptions& o) {
  if (auto s = check_common(o); !s) return usage(s.error().message());
  auto ring = key_ring(o, false);
  if (!ring) return usage(ring.error().message());
  const auto v = batv::verify(*ring, o.address, today(o), {.lifetime = o.lifetime});
  std::printf("%s %s\n", std::string(batv::verdict_name(v.verdict)).c_str(), v.address.c_str());
  return v.verdict == batv::Verdict::kValid ? 0 : 1;
}

int run_keygen(const std::string& path) {
  if (auto st = batv::create_key_file(path, secure_random()); !st) return usage(st.error().message());
  std::printf("created %s with key 0 (mode 0600): back it up with the state directory\n", path.c_str());
  return 0;
}

int run_rotate(const std::string& path) {
  auto text = batv::read_key_file(path);
  if (!text) return usage(text.error().message());
  int key = -1;
  auto rotated = batv::rotated_key_file(*text, secure_random(), &key);
  if (!rotated) return usage(path + ": " + rotated.error().message());
  if (auto st = batv::replace_key_file(path, *rotated); !st) return usage(st.error().message());
  std::printf("added key %d to %s and made it the signing key; the old keys still verify. "
              "Reload backstop (SIGHUP) to sign with it\n",
              key, path.c_str());
  return 0;
}

}  // namespace

void add_batv(CLI::App& root, int* exit_code) {
  auto* cmd = root.add_subcommand("batv", "Sign or verify BATV (prvs) envelope addresses");
  cmd->require_subcommand(1);

  auto sign_opts = std::make_shared<BatvOptions>();
  auto* sign = cmd->add_subcommand("sign", "Print ADDRESS with a prvs tag (exit 1 if left untagged)");
  add_key_options(sign, sign_opts);
  sign->add_option("--domain", sign_opts->domains, "Sign only for these domains (repeatable)")
      ->allow_extra_args(false);
  sign->callback([sign_opts, exit_code] { *exit_code = run_sign(*sign_opts); });

  auto verify_opts = std::make_shared<BatvOptions>();
  auto* verify = cmd->add_subcommand(
      "verify", "Print the result (valid, expired, bad-hash, not-tagged, foreign-form, unknown-key, "
                "malformed) and the untagged address; exit 0 only when valid");
  add_key_options(verify, verify_opts);
  verify->callback([verify_opts, exit_code] { *exit_code = run_verify(*verify_opts); });

  auto keygen_path = std::make_shared<std::string>();
  auto* keygen = cmd->add_subcommand("keygen", "Create a new key file with one key (never over an existing file)");
  keygen->add_option("--key-file", *keygen_path, "The key file to create (the daemon's: batv.key_file, "
                                                 "default <state.dir>/batv.keys)")->required();
  keygen->callback([keygen_path, exit_code] { *exit_code = run_keygen(*keygen_path); });

  auto rotate_path = std::make_shared<std::string>();
  auto* rotate = cmd->add_subcommand(
      "rotate", "Add a key with a fresh secret and make it the signing key; old keys keep verifying");
  rotate->add_option("--key-file", *rotate_path, "The key file to change")->required();
  rotate->callback([rotate_path, exit_code] { *exit_code = run_rotate(*rotate_path); });
}

}  // namespace backstop::app

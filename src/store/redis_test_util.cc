#include "store/redis_test_util.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

namespace backstop::store::testing {
namespace {

// How long a fresh redis-server may take to answer PING (it starts in
// milliseconds; sanitizer builds and a loaded CI machine are slower).
constexpr auto kStartTimeout = std::chrono::seconds(20);

std::string reply_text(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "(nil)";
    case REDIS_REPLY_ARRAY: return "(array " + std::to_string(r->elements) + ")";
    default: return std::string(r->str, r->len);
  }
}

}  // namespace

std::string redis_server_binary() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/redis-server";
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// Nothing to save (no persistence), and a master with replicas would wait
// for them on SIGTERM: SIGKILL.
RedisServer::~RedisServer() { kill_now(); }

bool RedisServer::start(std::uint16_t tcp_port, const std::vector<std::string>& extra) {
  const std::string bin = redis_server_binary();
  if (bin.empty()) {
    error_ = "redis-server is not installed";
    return false;
  }
  if (dir_.path().empty()) {
    error_ = "no temporary directory";
    return false;
  }
  std::vector<std::string> args = {bin,           "--port",      std::to_string(tcp_port),
                                   "--bind",      "127.0.0.1",   "--unixsocket",
                                   socket_,       "--unixsocketperm", "700",
                                   "--save",      "",            "--appendonly",
                                   "no",          "--dir",       dir_.path(),
                                   "--logfile",   dir_.path() + "/redis.log", "--daemonize",
                                   "no"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    error_ = "fork failed";
    return false;
  }
  if (pid == 0) {
    // The server dies with the test process, even when a test aborts.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  const auto end = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < end) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::ifstream log(dir_.path() + "/redis.log");
      std::stringstream text;
      text << log.rdbuf();
      error_ = "redis-server exited at start: " + text.str();
      return false;
    }
    if (redis_command(socket_, {"PING"}) == "PONG") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  error_ = "redis-server did not answer PING in time";
  return false;
}

void RedisServer::kill_now() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void RedisServer::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void RedisServer::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

namespace {

// Stops the shared server after the last test.
class SharedServerEnvironment final : public ::testing::Environment {
 public:
  void TearDown() override { server().reset(); }
  static std::unique_ptr<RedisServer>& server() {
    static std::unique_ptr<RedisServer> s;
    return s;
  }
};

[[maybe_unused]] ::testing::Environment* const kSharedServerEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedServerEnvironment);

}  // namespace

RedisServer* shared_redis_server(std::string* why, bool* skip) {
  static std::once_flag once;
  static std::string failure;
  static bool not_installed = false;
  std::call_once(once, [] {
    if (redis_server_binary().empty()) {
      not_installed = true;
      failure = "redis-server is not installed (Debian: apt-get install redis-server); Redis tests skipped";
      return;
    }
    auto s = std::make_unique<RedisServer>();
    if (!s->start()) {
      failure = s->error();
      return;
    }
    SharedServerEnvironment::server() = std::move(s);
  });
  if (why) *why = failure;
  if (skip) *skip = not_installed;
  return SharedServerEnvironment::server().get();
}

std::string fresh_prefix() {
  static std::atomic<int> n{0};
  return "t" + std::to_string(++n) + ":";
}

std::string redis_command(const std::string& socket, const std::vector<std::string>& args) {
  timeval tv{2, 0};
  redisContext* c = redisConnectUnixWithTimeout(socket.c_str(), tv);
  if (!c) return "";
  if (c->err) {
    redisFree(c);
    return "";
  }
  redisSetTimeout(c, tv);
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
  std::string out = r ? reply_text(r) : "";
  if (r) freeReplyObject(r);
  redisFree(c);
  return out;
}

std::uint16_t free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace backstop::store::testing

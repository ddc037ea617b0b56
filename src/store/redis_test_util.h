// Test helpers for the Redis backend: a private redis-server started on a
// unix socket in its own temporary directory (TCP only when asked for, no
// snapshots, no append-only file), stopped by PID; a server shared by the
// tests of one process; raw commands for setting up hostile data.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "store/test_util.h"

namespace backstop::store::testing {

// redis-server found in PATH, or "" when it is not installed.
std::string redis_server_binary();

class RedisServer {
 public:
  RedisServer() = default;
  ~RedisServer();  // kills the server (SIGKILL) and waits for it
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts redis-server (again, on the same socket, after kill()) and waits
  // until it answers PING. `tcp_port` 0: unix socket only. `extra` are more
  // command-line settings ("--replicaof", "127.0.0.1", "6380"). false with
  // the reason in error().
  bool start(std::uint16_t tcp_port = 0, const std::vector<std::string>& extra = {});
  void kill_now();  // SIGKILL, and waits for it
  void pause();     // SIGSTOP
  void resume();    // SIGCONT
  const std::string& socket() const { return socket_; }
  const std::string& error() const { return error_; }
  bool running() const { return pid_ > 0; }

 private:
  TempDir dir_;
  std::string socket_ = dir_.path() + "/redis.sock";
  pid_t pid_ = -1;
  std::string error_;
};

// The server shared by the tests of this process, started at first use and
// stopped when the tests end. Null with the reason in *why when redis-server
// is not installed (*skip = true: the caller skips) or did not start
// (*skip = false: the caller fails).
RedisServer* shared_redis_server(std::string* why, bool* skip);

// A key prefix no other test of this process uses ("t7:").
std::string fresh_prefix();

// Runs one command on the server at `socket` and returns the reply as text
// (an integer in decimal, an error as "ERR ..."), or "" on a connection
// failure. For test setup only.
std::string redis_command(const std::string& socket, const std::vector<std::string>& args);

// A TCP port that was free a moment ago (bind to port 0, close).
std::uint16_t free_tcp_port();

}  // namespace backstop::store::testing

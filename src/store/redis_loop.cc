#include "store/redis_loop.h"

#include <hiredis/hiredis.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <asio.hpp>
#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "store/redis_client.h"

namespace backstop::store {
namespace {

using redis::Command;
using redis::Reply;
using Clock = std::chrono::steady_clock;

// Bytes read from the socket per call.
constexpr std::size_t kRecvChunk = 64 * 1024;

struct ReaderDeleter {
  void operator()(redisReader* r) const {
    if (r) redisReaderFree(r);
  }
};

// What the worker thread may still reach after the reader is gone: the
// loop to post a new connection to, cleared (under the mutex) when the
// reader is destroyed.
struct Shared {
  std::mutex mu;
  asio::io_context* io = nullptr;
};

class LoopReads;

// One batch read in flight.
struct Request {
  ReadBatch batch;
  redis::BatchRead st;
  AsyncReads::Done done;
  bool second = false;        // the replies awaited are the second pipeline's
  std::size_t expect = 0;     // replies awaited
  std::vector<Reply> replies;
  Clock::time_point sent;
  Clock::time_point deadline;
};

class LoopReads final : public RedisLoopReads {
 public:
  LoopReads(Store& store, redis::BatchReads& steps, asio::io_context& io, Offload offload)
      : store_(store), steps_(steps), io_(io), offload_(std::move(offload)), timer_(io),
        timeout_(steps.pool().options().timeout), shared_(std::make_shared<Shared>()), buf_(kRecvChunk) {
    shared_->io = &io;
  }

  ~LoopReads() override {
    {
      std::lock_guard lock(shared_->mu);
      shared_->io = nullptr;
    }
    // Reads still waiting (the loop stopped under them) go to the worker.
    close(redis::Health::kDiscard, Disposal::kHandOver, {});
  }

  void start(ReadBatch batch, Done done) override {
    if (Status ok = steps_.check(batch); !ok) return done(unexpected<Error>(std::move(ok).error()));
    std::vector<Command> cmds = steps_.first(batch);
    if (cmds.empty()) return done(ReadBatchResult{});
    if (state_ != State::kReady || pending_.size() >= kMaxLoopPending) {
      if (state_ == State::kIdle && Clock::now() >= retry_at_) connect();
      return hand_over(std::move(batch), std::move(done));
    }
    // A connection the server closes is noticed by the read standing on
    // it; one closed just now fails the write or that read, and the reads
    // waiting on it are then handed to the worker.
    auto req = std::make_unique<Request>();
    req->batch = std::move(batch);
    req->done = std::move(done);
    send(std::move(req), cmds);
  }

  void quiesce() override { close(redis::Health::kDiscard, Disposal::kHandOver, {}); }

 private:
  enum class State { kIdle, kConnecting, kReady };
  // What a closing connection does with the reads waiting on it.
  enum class Disposal { kHandOver, kFail };

  void send(std::unique_ptr<Request> req, std::span<const Command> cmds) {
    if (Status ok = redis::append_commands(out_, cmds); !ok) {
      return finish(std::move(req), unexpected<Error>(std::move(ok).error()));
    }
    req->expect = cmds.size();
    req->replies.clear();
    req->replies.reserve(cmds.size());
    req->sent = Clock::now();
    req->deadline = req->sent + timeout_;
    pending_.push_back(std::move(req));
    // Nothing else in flight: written now, as there is nothing to wait
    // for. Otherwise written once the loop has run what is ready now: the
    // reads other connections start meanwhile share one write (and their
    // replies one read), which is most of what a read costs here.
    if (pending_.size() == 1 && !writing_ && !flush_posted_) {
      flush();
    } else if (!flush_posted_) {
      flush_posted_ = true;
      asio::post(io_, [this, gen = gen_] {
        if (gen != gen_) return;
        flush_posted_ = false;
        flush();
      });
    }
    read();
    arm_timer();
  }

  void hand_over(ReadBatch batch, Done done) {
    auto shared_done = std::make_shared<Done>(std::move(done));
    Store* st = &store_;
    const bool posted = offload_ && offload_([st, batch = std::move(batch), shared_done] {
      (*shared_done)(st->read_batch(batch));
    });
    if (!posted) (*shared_done)(fail(Code::kUnavailable, "redis: no worker to read on (queue full or stopping)"));
  }

  // Takes a connection from the pool on the worker; it is handed to the
  // loop, which uses it from then on.
  void connect() {
    state_ = State::kConnecting;
    redis::Pool* pool = &steps_.pool();
    std::weak_ptr<Shared> weak = shared_;
    const std::uint64_t gen = ++gen_;
    LoopReads* self = this;
    const bool posted = offload_ && offload_([pool, weak, gen, self] {
      auto lease = std::make_shared<Result<redis::Lease>>(pool->acquire());
      auto shared = weak.lock();
      if (!shared) return;
      std::lock_guard lock(shared->mu);
      if (!shared->io) return;  // the reader is gone: the lease goes back
      asio::post(*shared->io, [lease, shared, gen, self] {
        {
          // The reader is destroyed on this thread: alive now, alive
          // through this handler.
          std::lock_guard alive(shared->mu);
          if (!shared->io) return;
        }
        self->connected(gen, std::move(*lease));
      });
    });
    if (!posted) failed_attempt();
  }

  void connected(std::uint64_t gen, Result<redis::Lease> lease) {
    if (gen != gen_ || state_ != State::kConnecting) return;
    if (!lease) return failed_attempt();
    // A socket of our own on the connection's descriptor, for Asio; the
    // connection itself is only closed when the lease ends.
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd = (*lease)->fd();
    // Whatever fails from here on, the connection may have been made
    // non-blocking: it is not given back for the synchronous path.
    auto give_up = [&] {
      (*lease)->set_health(redis::Health::kDiscard);
      failed_attempt();
    };
    if (fd < 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return give_up();
    const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return give_up();
    asio::error_code ec;
    auto sock = std::make_unique<asio::generic::stream_protocol::socket>(io_);
    sock->assign(asio::generic::stream_protocol(ss.ss_family, ss.ss_family == AF_UNIX ? 0 : IPPROTO_TCP), dup, ec);
    if (ec) {
      ::close(dup);
      return give_up();
    }
    sock->non_blocking(true, ec);
    reader_.reset(redisReaderCreate());
    if (ec || !reader_) return give_up();
    lease_ = std::make_unique<redis::Lease>(std::move(*lease));
    sock_ = std::move(sock);
    state_ = State::kReady;
    backoff_ = kRedisBackoffMin;
    read();
  }

  void failed_attempt() {
    state_ = State::kIdle;
    retry_at_ = Clock::now() + backoff_;
    backoff_ = std::min(backoff_ * 2, kRedisBackoffMax);
  }

  // Writes what is queued: at once while the socket takes it (commands are
  // small; no handler to wait for), the rest asynchronously.
  void flush() {
    if (writing_ || out_.empty() || !sock_) return;
    asio::error_code ec;
    std::size_t done = 0;
    while (done < out_.size()) {
      const std::size_t k = sock_->write_some(asio::buffer(out_.data() + done, out_.size() - done), ec);
      if (ec) break;
      done += k;
    }
    if (!ec) return out_.clear();
    if (ec != asio::error::would_block && ec != asio::error::try_again) {
      return close(redis::Health::kDiscard, Disposal::kHandOver, {});
    }
    writing_ = true;
    in_flight_.assign(out_, done);
    out_.clear();
    asio::async_write(*sock_, asio::buffer(in_flight_), [this, gen = gen_](asio::error_code wec, std::size_t) {
      if (gen != gen_) return;
      writing_ = false;
      in_flight_.clear();
      if (wec) return close(redis::Health::kDiscard, Disposal::kHandOver, {});
      flush();
    });
  }

  // A read is outstanding for as long as the connection is up, replies
  // awaited or not: a connection the server closes while idle is noticed
  // when it closes, and no read is tried before the replies can be there.
  void read() {
    if (reading_ || !sock_) return;
    reading_ = true;
    sock_->async_read_some(asio::buffer(buf_), [this, gen = gen_](asio::error_code ec, std::size_t n) {
      if (gen != gen_) return;
      reading_ = false;
      if (ec) return close(redis::Health::kDiscard, Disposal::kHandOver, {});
      received(n);
    });
  }

  void received(std::size_t n) {
    if (redisReaderFeed(reader_.get(), buf_.data(), n) != REDIS_OK ||
        reader_->len - reader_->pos > kMaxLoopInput) {
      return close(redis::Health::kBroken, Disposal::kFail, "redis: oversized or unreadable reply");
    }
    for (;;) {
      void* r = nullptr;
      if (redisReaderGetReply(reader_.get(), &r) != REDIS_OK) {
        return close(redis::Health::kBroken, Disposal::kFail,
                     "redis: protocol error: " + redis::printable(reader_->errstr));
      }
      if (!r) break;
      Reply reply(static_cast<redisReply*>(r));
      if (pending_.empty()) return close(redis::Health::kBroken, Disposal::kFail, "redis: a reply nobody asked for");
      Request& front = *pending_.front();
      front.replies.push_back(std::move(reply));
      if (front.replies.size() < front.expect) continue;
      auto req = std::move(pending_.front());
      pending_.pop_front();
      const std::uint64_t gen = gen_;
      answered(std::move(req));
      if (gen != gen_) return;  // the connection was closed meanwhile
    }
    read();
    arm_timer();
  }

  // All the replies of one pipeline are in.
  void answered(std::unique_ptr<Request> req) {
    bool error_reply = false, failover = false;
    for (const auto& rep : req->replies) {
      error_reply |= rep->type == REDIS_REPLY_ERROR;
      failover |= redis::is_failover_error(rep.get());
    }
    if (RemoteObserver* o = steps_.observer()) {
      o->round_trip(req->expect, std::chrono::duration<double>(Clock::now() - req->sent).count(),
                    error_reply ? RemoteObserver::Result::kErrorReply : RemoteObserver::Result::kOk);
    }
    // The server is no longer the master: this read fails as on the
    // synchronous path, and the pool asks the sentinels again.
    if (failover) {
      finish(std::move(req), fail(Code::kUnavailable, "redis: the server is not the master (failover)"));
      return close(redis::Health::kFailover, Disposal::kHandOver, {});
    }
    if (!req->second) {
      auto more = steps_.after_first(req->batch, req->st, req->replies);
      if (!more) return finish(std::move(req), unexpected<Error>(std::move(more).error()));
      if (!more->empty()) {
        req->second = true;
        const std::vector<Command> cmds = std::move(*more);
        return send(std::move(req), cmds);
      }
    } else if (Status ok = steps_.after_second(req->batch, req->st, req->replies); !ok) {
      return finish(std::move(req), unexpected<Error>(std::move(ok).error()));
    }
    finish(std::move(req), std::move(req->st.out));
  }

  static void finish(std::unique_ptr<Request> req, Result<ReadBatchResult> r) {
    Done done = std::move(req->done);
    req.reset();
    done(std::move(r));
  }

  void arm_timer() {
    if (pending_.empty() || timer_armed_) return;
    timer_armed_ = true;
    timer_.expires_at(pending_.front()->deadline);
    timer_.async_wait([this, gen = gen_](asio::error_code) {
      if (gen != gen_) return;
      timer_armed_ = false;
      if (pending_.empty()) return;
      if (Clock::now() >= pending_.front()->deadline) {
        return close(redis::Health::kBroken, Disposal::kFail, "redis: timed out");
      }
      arm_timer();
    });
  }

  // Ends the connection (its lease goes back with `health`) and disposes of
  // the reads waiting on it: handed to the worker, or failed with `why`.
  void close(redis::Health health, Disposal disposal, const std::string& why) {
    ++gen_;  // handlers of this connection now do nothing
    asio::error_code ec;
    timer_.cancel();
    timer_armed_ = false;
    if (sock_) sock_->close(ec);
    sock_.reset();
    reader_.reset();
    out_.clear();
    in_flight_.clear();
    writing_ = reading_ = flush_posted_ = false;
    if (lease_) {
      (*lease_)->set_health(health);
      lease_.reset();
    }
    const bool was_ready = state_ == State::kReady;
    if (state_ != State::kIdle) failed_attempt();
    if (!was_ready || health == redis::Health::kDiscard) {
      // A connection the server closed (idle, restarted) is retried at the
      // next read, not after a back-off: the pool decides whether it is up.
      retry_at_ = Clock::now();
    }
    std::deque<std::unique_ptr<Request>> waiting;
    waiting.swap(pending_);
    if (RemoteObserver* o = steps_.observer(); o && !waiting.empty()) {
      o->round_trip(waiting.front()->expect,
                    std::chrono::duration<double>(Clock::now() - waiting.front()->sent).count(),
                    RemoteObserver::Result::kFailed);
    }
    for (auto& req : waiting) {
      if (disposal == Disposal::kFail) {
        finish(std::move(req), fail(Code::kUnavailable, why));
      } else {
        Done done = std::move(req->done);
        hand_over(std::move(req->batch), std::move(done));
      }
    }
  }

  Store& store_;
  redis::BatchReads& steps_;
  asio::io_context& io_;
  Offload offload_;
  asio::steady_timer timer_;
  const std::chrono::milliseconds timeout_;
  std::shared_ptr<Shared> shared_;
  std::vector<char> buf_;

  State state_ = State::kIdle;
  std::uint64_t gen_ = 0;  // bumped by each connect() and close()
  Clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_ = kRedisBackoffMin;
  std::unique_ptr<redis::Lease> lease_;
  std::unique_ptr<asio::generic::stream_protocol::socket> sock_;
  std::unique_ptr<redisReader, ReaderDeleter> reader_;
  std::deque<std::unique_ptr<Request>> pending_;  // in the order of their replies
  std::string out_;        // commands not yet written
  std::string in_flight_;  // commands being written
  bool writing_ = false, reading_ = false, timer_armed_ = false, flush_posted_ = false;
};

}  // namespace

std::unique_ptr<RedisLoopReads> make_redis_loop_reads(Store& store, asio::io_context& io, Offload offload) {
  auto* steps = dynamic_cast<redis::BatchReads*>(&store);
  if (!steps) return nullptr;
  return std::make_unique<LoopReads>(store, *steps, io, std::move(offload));
}

}  // namespace backstop::store

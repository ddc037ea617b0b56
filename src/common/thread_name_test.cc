#include "common/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <thread>

namespace backstop::common {
namespace {

std::string name_in(std::string_view set) {
  std::string got;
  std::thread t([&] {
    set_thread_name(set);
    char buf[64] = {};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    got = buf;
  });
  t.join();
  return got;
}

TEST(ThreadName, SetsTheName) { EXPECT_EQ(name_in("bs-milter-0"), "bs-milter-0"); }

TEST(ThreadName, CutsAtTheKernelLimit) {
  EXPECT_EQ(name_in("bs-a-very-long-thread-name"), "bs-a-very-long-");
}

}  // namespace
}  // namespace backstop::common

#include <gmime/gmime.h>
#include <hs/hs.h>
#include <lmdb.h>
#include <openssl/opensslv.h>

#include <cstdio>

#include "app/commands.h"

namespace backstop::app {

void add_version(CLI::App& root, int* exit_code) {
  auto* sub = root.add_subcommand("version", "Print the version and the libraries in use");
  sub->callback([exit_code] {
    std::printf("backstop %s\n", BACKSTOP_VERSION);
    std::printf("  gmime %d.%d.%d, vectorscan/hyperscan %s, lmdb %d.%d.%d, %s\n",
                GMIME_MAJOR_VERSION, GMIME_MINOR_VERSION, GMIME_MICRO_VERSION,
                hs_version(), MDB_VERSION_MAJOR, MDB_VERSION_MINOR, MDB_VERSION_PATCH,
                OPENSSL_VERSION_TEXT);
    *exit_code = 0;
  });
}

}  // namespace backstop::app

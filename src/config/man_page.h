// The backstop.toml(5) man page, generated from the key table through the
// same reference as docs/configuration.md (config::markdown_reference), so
// the two cannot say different things. `backstop config doc --man` prints
// it; man/backstop.toml.5 is its output (config_test compares them).
#pragma once

#include <string>

namespace backstop::config {

// The reference as man(7) sections: ".SS [section]", then a ".TP" paragraph
// per key with its type, default, range and documentation.
std::string man_reference();
// The whole page: NAME, SYNOPSIS, DESCRIPTION, KEYS (man_reference()),
// FILES, SEE ALSO.
std::string man_page();

}  // namespace backstop::config

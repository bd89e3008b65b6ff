// Core `name = value` parameters (internal to cfg/).
#pragma once

#include <string>
#include <vector>

#include "cfg/lexer.h"
#include "sip/sip_msg_impl.h"

namespace shim::cfg {

// Applies one global parameter. `val` are the value's tokens, `raw` their
// source text. 0, or -1 with *msg (no file:line prefix).
int global_set(const std::string &name, const std::vector<token> &val,
               const std::string &raw, std::string &msg);

// Parses "udp:IP[:PORT] [options]" into a socket. 0 / -1 with *msg.
int parse_socket(const std::string &raw, sip_socket &out, std::string &msg);

} // namespace shim::cfg

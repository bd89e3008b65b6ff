// cfg tokenizer (internal to cfg/). The whole file is split into tokens up
// front; each keeps its line and source offsets so global values can be
// taken as raw text ("udp:127.0.0.1:5060 as 1.2.3.4:5060").
#pragma once

#include <string>
#include <vector>

namespace shim::cfg {

struct token {
	enum kind_t { IDENT, NUMBER, STRING, PVAR, PUNCT, END } kind = END;
	std::string text; // STRING: unescaped body; others: as written
	long num = 0;     // NUMBER
	int line = 0;
	size_t begin = 0, end = 0; // offsets in the source
	bool bol = false;          // first token on its line
};

// 0, or -1 with *err = "<file>:<line>: <message>".
int tokenize(const std::string &src, const std::string &file,
             std::vector<token> &out, std::string &err);

// Parses a whole word as a cfg number: decimal, 0x hex, leading-0 octal.
bool parse_number(const std::string &word, long &out);

} // namespace shim::cfg

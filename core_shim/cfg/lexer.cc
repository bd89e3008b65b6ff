#include "cfg/lexer.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace shim::cfg {

bool parse_number(const std::string &word, long &out)
{
	if (word.empty() || !isdigit((unsigned char)word[0])) return false;
	errno = 0;
	char *end = nullptr;
	long v = strtol(word.c_str(), &end, 0);
	if (errno || *end) return false;
	out = v;
	return true;
}

static bool ident_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

int tokenize(const std::string &src, const std::string &file,
             std::vector<token> &out, std::string &err)
{
	size_t i = 0, n = src.size();
	int line = 1, last_line = 0;
	auto fail = [&](int l, const std::string &m) {
		err = file + ":" + std::to_string(l) + ": " + m;
		return -1;
	};
	while (i < n) {
		char c = src[i];
		if (c == '\n') { line++; i++; continue; }
		if (isspace((unsigned char)c)) { i++; continue; }
		if (c == '#') {
			while (i < n && src[i] != '\n') i++;
			continue;
		}
		if (c == '/' && i + 1 < n && src[i + 1] == '*') {
			int start = line;
			i += 2;
			while (i + 1 < n && !(src[i] == '*' && src[i + 1] == '/')) {
				if (src[i] == '\n') line++;
				i++;
			}
			if (i + 1 >= n) return fail(start, "unterminated comment");
			i += 2;
			continue;
		}
		token t;
		t.line = line;
		t.begin = i;
		t.bol = line != last_line;
		last_line = line;
		if (c == '"' || c == '\'') {
			char q = c;
			int start = line;
			i++;
			std::string body;
			while (i < n && src[i] != q) {
				if (src[i] == '\\' && i + 1 < n) {
					char e = src[i + 1];
					switch (e) {
					case 'n': body += '\n'; break;
					case 't': body += '\t'; break;
					case 'r': body += '\r'; break;
					case '\\': body += '\\'; break;
					case '"': body += '"'; break;
					case '\'': body += '\''; break;
					default: body += '\\'; body += e; break;
					}
					if (e == '\n') line++;
					i += 2;
					continue;
				}
				if (src[i] == '\n') line++;
				body += src[i++];
			}
			if (i >= n) return fail(start, "unterminated string");
			i++;
			t.kind = token::STRING;
			t.text = body;
		} else if (c == '$') {
			i++;
			if (i < n && src[i] == '(')
				return fail(line, "transformations are not supported");
			while (i < n && ident_char(src[i])) i++;
			if (i < n && src[i] == '(') {
				int depth = 0;
				while (i < n) {
					if (src[i] == '(') depth++;
					else if (src[i] == ')' && --depth == 0) break;
					else if (src[i] == '\n') break;
					i++;
				}
				if (i >= n || src[i] != ')')
					return fail(line, "unterminated variable name");
				i++;
			}
			t.kind = token::PVAR;
			t.text = src.substr(t.begin, i - t.begin);
		} else if (isdigit((unsigned char)c)) {
			while (i < n && (isalnum((unsigned char)src[i]) || src[i] == '_' ||
			                 src[i] == '.'))
				i++;
			t.text = src.substr(t.begin, i - t.begin);
			t.kind = parse_number(t.text, t.num) ? token::NUMBER : token::IDENT;
		} else if (ident_start(c)) {
			while (i < n && ident_char(src[i])) i++;
			t.kind = token::IDENT;
			t.text = src.substr(t.begin, i - t.begin);
		} else {
			static const char *two[] = {"==", "!=", "=~", "!~", ">=",
			                            "<=", "&&", "||"};
			t.kind = token::PUNCT;
			t.text = std::string(1, c);
			for (auto *p : two)
				if (i + 1 < n && src[i] == p[0] && src[i + 1] == p[1]) {
					t.text = p;
					break;
				}
			i += t.text.size();
		}
		t.end = i;
		out.push_back(std::move(t));
	}
	token e;
	e.kind = token::END;
	e.line = line;
	e.begin = e.end = n;
	e.bol = true;
	out.push_back(e);
	return 0;
}

} // namespace shim::cfg

#include "util/text.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

namespace shim {

namespace {

bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

} // namespace

std::vector<std::string> split_blank(std::string_view text)
{
	std::vector<std::string> out;
	size_t i = 0, n = text.size();
	while (i < n) {
		while (i < n && blank(text[i]))
			i++;
		size_t b = i;
		while (i < n && !blank(text[i]))
			i++;
		if (i > b)
			out.emplace_back(text.substr(b, i - b));
	}
	return out;
}

bool read_whole_file(const std::string &path, std::string &out)
{
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	out.clear();
	char buf[16384];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return false;
		}
		if (r == 0)
			break;
		out.append(buf, (size_t)r);
	}
	close(fd);
	return true;
}

} // namespace shim

// Addresses as text (net/addr_text.h).
#include "net/addr_text.h"

namespace shim {

void ipv4_text(in_addr a, char *out)
{
	const unsigned char *b = (const unsigned char *)&a.s_addr; // network order
	char *p = out;
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];
		if (v >= 100) {
			*p++ = (char)('0' + v / 100);
			*p++ = (char)('0' + v / 10 % 10);
		} else if (v >= 10) {
			*p++ = (char)('0' + v / 10);
		}
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
}

} // namespace shim

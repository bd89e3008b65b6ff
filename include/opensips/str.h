/* str: a counted, not necessarily NUL-terminated string (C ABI). */
#ifndef OPENSIPS_STR_H
#define OPENSIPS_STR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _str {
	char *s;
	int len;
} str;

#define str_init(_cstr) { (char *)(_cstr), (int)(sizeof(_cstr) - 1) }

#ifdef __cplusplus
}
#endif
#endif

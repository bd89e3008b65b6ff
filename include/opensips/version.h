/* Host identity and module ABI version. A module records these through
 * MODULE_VERSION; the loader refuses a module whose strings differ. */
#ifndef OPENSIPS_VERSION_H
#define OPENSIPS_VERSION_H

#define SHIM_NAME "opensips-shim"
#define SHIM_VERSION "0.1.0"
#if defined(__x86_64__)
#define SHIM_ARCH "x86_64"
#elif defined(__aarch64__)
#define SHIM_ARCH "aarch64"
#else
#define SHIM_ARCH "unknown"
#endif
#define SHIM_OS "linux"
/* "opensips-shim 0.1.0 (x86_64/linux)": compared as a string at load. */
#define SHIM_FULL_VERSION SHIM_NAME " " SHIM_VERSION " (" SHIM_ARCH "/" SHIM_OS ")"
/* Bumped whenever a struct in include/ changes layout. */
#define SHIM_ABI_VERSION 3 /* 3: evi_event.callid (issue 12) */
#define SHIM_ABI_STRING "shim-abi-3"

#endif

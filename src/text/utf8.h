// Text that JSON can carry: any bytes as valid UTF-8.
#ifndef RLVR_UTF8_H
#define RLVR_UTF8_H

#include <stddef.h>

// A malloc'd copy of s[0..n) in which every invalid UTF-8 sequence and every NUL is U+FFFD.
char *utf8_sanitize(const char *s, size_t n);

#endif

// libFuzzer target: the INI config parser and --set overrides must never crash on any bytes.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Config c;
    Err e;
    config_defaults(&c);
    int fd = memfd_create("fuzz.ini", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) == (ssize_t)size) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (config_load_file(&c, path, &e) == 0) config_finalize(&c, &e);
    }
    close(fd);
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    config_defaults(&c);
    config_set(&c, text, &e);
    free(text);
    return 0;
}

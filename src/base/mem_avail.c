#include "base/mem_avail.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mem_meminfo_available(const char *meminfo, uint64_t *bytes) {
    for (const char *p = meminfo; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        unsigned long long kb;
        char unit[8];
        if (strncmp(p, "MemAvailable:", 13)) continue;
        if (sscanf(p + 13, " %llu %7s", &kb, unit) != 2 || strcmp(unit, "kB")) return false;
        *bytes = (uint64_t)kb * 1024;
        return true;
    }
    return false;
}

// Whether the comma list of controllers holds "memory".
static bool has_memory(const char *list, size_t n) {
    for (size_t i = 0; i + 6 <= n; i++)
        if (!strncmp(list + i, "memory", 6) && (i == 0 || list[i - 1] == ',') && (i + 6 == n || list[i + 6] == ','))
            return true;
    return false;
}

bool mem_cgroup_path(const char *proc_cgroup, bool v1, char *path, size_t size) {
    for (const char *p = proc_cgroup; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        const char *c1 = strchr(p, ':'), *end = p + strcspn(p, "\n");
        const char *c2 = c1 && c1 < end ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
        if (!c2) continue;
        bool v2_line = c1 - p == 1 && *p == '0' && c2 == c1 + 1;
        if (v1 ? !has_memory(c1 + 1, (size_t)(c2 - c1 - 1)) : !v2_line) continue;
        int n = (int)(end - c2 - 1);
        if (n < 1 || (size_t)n >= size) return false;
        snprintf(path, size, "%.*s", n, c2 + 1);
        return true;
    }
    return false;
}

// A whole decimal number (surrounding white space allowed).
static bool parse_u64(const char *text, uint64_t *x) {
    char *end;
    while (isspace((unsigned char)*text)) text++;
    if (!isdigit((unsigned char)*text)) return false;
    unsigned long long v = strtoull(text, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (*end) return false;
    *x = v;
    return true;
}

bool mem_cgroup_left(const char *limit, const char *usage, uint64_t *bytes) {
    uint64_t lim, used;
    if (!parse_u64(limit, &lim) || !parse_u64(usage, &used)) return false;  // v2 "max": no limit
    if (lim >= ((uint64_t)1 << 62)) return false;  // v1's unlimited: PAGE_COUNTER_MAX pages, about 2^63 bytes
    *bytes = used >= lim ? 0 : lim - used;
    return true;
}

bool mem_parse_size(const char *text, uint64_t *bytes) {
    char *end;
    if (!isdigit((unsigned char)*text)) return false;
    unsigned long long v = strtoull(text, &end, 10);
    int shift = 0;
    switch (toupper((unsigned char)*end)) {
        case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        case 'T': shift = 40; break;
        case 0: break;
        default: return false;
    }
    if (shift && end[1]) return false;
    if (v > (UINT64_MAX >> shift)) return false;
    *bytes = (uint64_t)v << shift;
    return true;
}

// The file's text (at most size - 1 bytes), or false.
static bool read_text(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = 0;
    return n > 0;
}

// The least that the limits of cgroup `path` and its ancestors leave, under root (the controller's mount) with the
// files limit_name and usage_name, into *out when below it.
static void cgroup_tree_left(const char *root, const char *path, const char *limit_name, const char *usage_name,
                             MemAvail *out) {
    char dir[2048], at[4200], lim[64], use[64];
    snprintf(dir, sizeof dir, "%s", path);
    for (;;) {
        uint64_t left;
        snprintf(at, sizeof at, "%.400s%s/%.32s", root, strcmp(dir, "/") ? dir : "", limit_name);
        bool ok = read_text(at, lim, sizeof lim);
        snprintf(at, sizeof at, "%.400s%s/%.32s", root, strcmp(dir, "/") ? dir : "", usage_name);
        if (ok && read_text(at, use, sizeof use) && mem_cgroup_left(lim, use, &left) && left < out->bytes) {
            out->bytes = left;
            snprintf(out->source, sizeof out->source, "cgroup %.100s (%s)", dir, limit_name);
        }
        char *slash = strrchr(dir, '/');
        if (!slash || !strcmp(dir, "/")) return;
        if (slash == dir) slash[1] = 0;  // up to "/"
        else *slash = 0;
    }
}

void mem_available_at(const char *meminfo, const char *proc_cgroup, const char *sys_root, MemAvail *out) {
    char path[2048], root[512];
    *out = (MemAvail){.bytes = UINT64_MAX, .source = "unknown"};
    if (meminfo && mem_meminfo_available(meminfo, &out->bytes))
        snprintf(out->source, sizeof out->source, "MemAvailable");
    if (!proc_cgroup) return;
    if (mem_cgroup_path(proc_cgroup, false, path, sizeof path)) {
        // The unified hierarchy at the mount's root, or under it (a hybrid layout).
        cgroup_tree_left(sys_root, path, "memory.max", "memory.current", out);
        snprintf(root, sizeof root, "%.400s/unified", sys_root);
        cgroup_tree_left(root, path, "memory.max", "memory.current", out);
    }
    if (mem_cgroup_path(proc_cgroup, true, path, sizeof path)) {
        snprintf(root, sizeof root, "%.400s/memory", sys_root);
        cgroup_tree_left(root, path, "memory.limit_in_bytes", "memory.usage_in_bytes", out);
    }
}

int mem_available(MemAvail *out, Err *e) {
    char meminfo[16384], cgroup[8192], q[ERR_ABBREV_SIZE];
    const char *hook = getenv("RLVR_MEMORY_AVAILABLE");
    uint64_t bytes;
    if (hook && !mem_parse_size(hook, &bytes))
        return err_set(e, "RLVR_MEMORY_AVAILABLE='%s': expected a size such as 8G, 512M, 100000k or a byte count",
                       err_abbrev(hook, q));
    if (hook) {
        *out = (MemAvail){.bytes = bytes, .source = "RLVR_MEMORY_AVAILABLE"};
        return 0;
    }
    bool has_meminfo = read_text("/proc/meminfo", meminfo, sizeof meminfo);
    bool has_cgroup = read_text("/proc/self/cgroup", cgroup, sizeof cgroup);
    mem_available_at(has_meminfo ? meminfo : NULL, has_cgroup ? cgroup : NULL, "/sys/fs/cgroup", out);
    return 0;
}

// A "Name:   N kB" line of /proc/self/status, in bytes.
static uint64_t status_kb(const char *name) {
    char text[8192];
    size_t n = strlen(name);
    if (!read_text("/proc/self/status", text, sizeof text)) return 0;
    for (const char *p = text; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        unsigned long long kb;
        if (!strncmp(p, name, n) && p[n] == ':' && sscanf(p + n + 1, " %llu", &kb) == 1) return (uint64_t)kb * 1024;
    }
    return 0;
}

uint64_t mem_peak_resident(void) { return status_kb("VmHWM"); }
uint64_t mem_resident(void) { return status_kb("VmRSS"); }

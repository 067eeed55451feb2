// The host memory this process may still use: the smaller of /proc/meminfo's MemAvailable and what its cgroup's
// memory limit leaves (cgroup v2 memory.max minus memory.current, v1 memory.limit_in_bytes minus
// memory.usage_in_bytes, at its cgroup and every ancestor): a Slurm job's limit is its cgroup's, not the machine's.
// The parsers take the files' text, so tests give them sample text.
#ifndef RLVR_MEM_AVAIL_H
#define RLVR_MEM_AVAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

// MemAvailable of /proc/meminfo text, in bytes; false when the line is absent or malformed.
bool mem_meminfo_available(const char *meminfo, uint64_t *bytes);

// The cgroup path of /proc/self/cgroup text: v2's "0::PATH" (v1 false), or v1's line whose controllers include
// "memory" (v1 true). False when there is none.
bool mem_cgroup_path(const char *proc_cgroup, bool v1, char *path, size_t size);

// What a cgroup's limit leaves: limit minus usage (0 when usage exceeds it), from the text of memory.max (v2: a
// number or "max") or memory.limit_in_bytes (v1: a number, about 2^63 when unlimited) and of memory.current or
// memory.usage_in_bytes. False when there is no limit or the text is malformed.
bool mem_cgroup_left(const char *limit, const char *usage, uint64_t *bytes);

// "8G", "512M", "100000k" or a plain byte count (K, M, G, T: powers of 1024; either case): RLVR_MEMORY_AVAILABLE's
// form. False for anything else.
bool mem_parse_size(const char *text, uint64_t *bytes);

typedef struct {
    uint64_t bytes;     // available to this process now (UINT64_MAX: unknown)
    char source[160];   // what bounds it: "MemAvailable", "cgroup /slurm/job_1 (memory.max)", "RLVR_MEMORY_AVAILABLE"
} MemAvail;

// This process's available memory, read now. RLVR_MEMORY_AVAILABLE (mem_parse_size's form; a test hook that stands
// for a smaller machine or job) replaces the reading when set; a malformed value is an error naming it.
int mem_available(MemAvail *out, Err *e);

// mem_available's reading from given sources (tests): /proc/meminfo's and /proc/self/cgroup's text (NULL: absent) and
// the cgroup mounts under sys_root ("/sys/fs/cgroup": v2 there or under unified/, v1's memory controller under
// memory/). RLVR_MEMORY_AVAILABLE plays no part.
void mem_available_at(const char *meminfo, const char *proc_cgroup, const char *sys_root, MemAvail *out);

// This process's peak resident memory so far (VmHWM of /proc/self/status), in bytes; 0 when unreadable.
uint64_t mem_peak_resident(void);
// Its resident memory now (VmRSS), in bytes; 0 when unreadable.
uint64_t mem_resident(void);

#endif

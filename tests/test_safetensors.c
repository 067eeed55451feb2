// The safetensors reader and writer: one crafted bad file per rule of src/io/safetensors.h (each rejection names
// the file and, where there is one, the tensor), exact dtype conversions, bf16 rounding to nearest even, and
// write -> read round trips.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/safetensors.h"

static char dir[64];

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/rlvr-st-XXXXXX");
    cr_assert(mkdtemp(dir));
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(safetensors, .init = setup, .fini = teardown);

// Writes [8-byte length hlen][hdr bytes][data_bytes zero bytes] to dir/name; returns the path.
static const char *raw(const char *name, uint64_t hlen, const char *hdr, size_t hdr_bytes, size_t data_bytes) {
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    for (int i = 0; i < 8; i++) fputc((int)((hlen >> (8 * i)) & 0xff), f);
    fwrite(hdr, 1, hdr_bytes, f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    fclose(f);
    return path;
}

// A file with header text hdr (its real length) and data_bytes of data.
static const char *file_with(const char *hdr, size_t data_bytes) {
    return raw("t.safetensors", strlen(hdr), hdr, strlen(hdr), data_bytes);
}

static void rejects(const char *path, const char *needle, const char *tensor) {
    StFile f;
    Err e = {{0}};
    cr_assert_neq(st_open(&f, path, &e), 0, "accepted; expected '%s'", needle);
    cr_assert(strstr(e.msg, needle), "'%s' does not say '%s'", e.msg, needle);
    cr_assert(strstr(e.msg, path), "'%s' does not name the file", e.msg);
    if (tensor) cr_assert(strstr(e.msg, tensor), "'%s' does not name tensor '%s'", e.msg, tensor);
}

#define A(off0, off1) "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" #off0 "," #off1 "]}"
#define B(off0, off1) "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[" #off0 "," #off1 "]}"

Test(safetensors, accepts_a_valid_file) {
    const char *p = file_with("{\"__metadata__\":{\"format\":\"pt\"}," B(8, 16) "," A(0, 8) "}   ", 16);
    StFile f;
    Err e = {{0}};
    cr_assert_eq(st_open(&f, p, &e), 0, "%s", e.msg);
    cr_assert_eq(f.n_tensors, 2);
    cr_assert_str_eq(f.tensors[0].name, "a");  // data order
    cr_assert(st_find(&f, "b") && st_find(&f, "b")->numel == 4 && st_find(&f, "b")->ndim == 2);
    cr_assert_null(st_find(&f, "c"));
    cr_assert_str_eq(st_meta(&f, "format"), "pt");
    st_close(&f);
    cr_assert_eq(st_open(&f, file_with("{}", 0), &e), 0, "%s", e.msg);  // no tensors at all
    st_close(&f);
}

Test(safetensors, header_length_bounded) {
    rejects(raw("big", ST_MAX_HEADER + 1, "{}", 2, 0), "exceeds 100000000 bytes", NULL);
    rejects(raw("past", 100, "{}", 2, 0), "runs past the end of the file", NULL);
    rejects(raw("tiny", 1, "{", 1, 0), "too small", NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/short", dir);
    FILE *f = fopen(path, "wb");
    fputs("abc", f);
    fclose(f);
    rejects(path, "too short", NULL);
}

Test(safetensors, header_is_utf8_json_object) {
    rejects(file_with("{\"\xff\":{}}", 0), "invalid UTF-8", NULL);
    rejects(file_with("{\"\xc0\xaf\":{}}", 0), "invalid UTF-8", NULL);  // overlong '/'
    rejects(file_with("{\"\xed\xa0\x80\":{}}", 0), "invalid UTF-8", NULL);  // surrogate
    rejects(raw("nul", 4, "{}\0 ", 4, 0), "control character", NULL);
    rejects(file_with(" {}", 0), "does not start with '{'", NULL);
    rejects(file_with("[1]", 0), "does not start with '{'", NULL);
    rejects(file_with("{\"a\":", 0), "not a valid JSON object", NULL);
    rejects(file_with("{} x", 0), "text after its JSON object", NULL);
    rejects(file_with("{\"a\\u0000b\":{}}", 0), "\\u0000", NULL);
}

Test(safetensors, no_duplicate_names) {
    rejects(file_with("{" A(0, 8) "," A(8, 16) "}", 16), "tensor 'a' appears twice", "a");
    rejects(file_with("{\"__metadata__\":{},\"__metadata__\":{}}", 0), "__metadata__ appears twice", NULL);
    rejects(file_with("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4),
            "field 'dtype' appears twice", "a");
}

Test(safetensors, entries_well_formed) {
    rejects(file_with("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "unknown dtype Q4", "a");
    rejects(file_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8),
            "unknown field 'x'", "a");
    rejects(file_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 0), "missing 'data_offsets'", "a");
    rejects(file_with("{\"a\":[1]}", 0), "not a JSON object", "a");
    rejects(file_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8), "whole numbers", "a");
    rejects(file_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8), "whole numbers", "a");
    rejects(file_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8), "begin <= end", "a");
    rejects(file_with("{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "empty name", NULL);
}

Test(safetensors, size_matches_offsets_without_overflow) {
    rejects(file_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "need 12 bytes", "a");
    rejects(file_with("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8),
            "element count overflows", "a");
    rejects(file_with("{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,536870912],\"data_offsets\":[0,8]}}", 8),
            "byte size overflows", "a");
}

Test(safetensors, contiguous_from_zero) {
    rejects(file_with("{" A(4, 12) "}", 12), "leaving a hole", "a");
    rejects(file_with("{" A(0, 8) "," B(12, 20) "}", 20), "leaving a hole", "b");
    rejects(file_with("{" A(0, 8) "," B(4, 12) "}", 12), "overlaps tensor 'a'", "b");
}

Test(safetensors, nothing_past_the_end_and_no_trailing_bytes) {
    rejects(file_with("{" A(0, 8) "," B(8, 16) "}", 12), "past the end of the file", "b");
    rejects(file_with("{" A(0, 8) "}", 9), "1 trailing bytes", "a");
    rejects(file_with("{}", 3), "3 trailing bytes", NULL);
}

Test(safetensors, metadata_values_are_strings) {
    rejects(file_with("{\"__metadata__\":{\"format\":1}}", 0), "__metadata__ value of 'format' is not a string", NULL);
    rejects(file_with("{\"__metadata__\":[]}", 0), "__metadata__ is not a JSON object", NULL);
}

Test(safetensors, conversions_exact) {
    cr_assert_eq(st_bf16_to_f32(0x3f80), 1.0f);
    cr_assert_eq(st_bf16_to_f32(0xc0a0), -5.0f);
    cr_assert_eq(st_f16_to_f32(0x3c00), 1.0f);
    cr_assert_eq(st_f16_to_f32(0x0001), ldexpf(1, -24));            // smallest subnormal
    cr_assert_eq(st_f16_to_f32(0x03ff), 1023 * ldexpf(1, -24));      // largest subnormal
    cr_assert_eq(st_f16_to_f32(0x7bff), 65504.0f);
    cr_assert(isinf(st_f16_to_f32(0xfc00)) && st_f16_to_f32(0xfc00) < 0);
    cr_assert(isnan(st_f16_to_f32(0x7e00)));
    cr_assert(signbit(st_f16_to_f32(0x8000)) && st_f16_to_f32(0x8000) == 0);
    // Every f16 value survives f32 (the f16 -> f32 map is injective and exact): spot-check by re-encoding.
    for (uint32_t h = 0; h < 0x7c00; h++) {
        float x = st_f16_to_f32((uint16_t)h);
        cr_assert(x >= 0 && (h == 0 || x > st_f16_to_f32((uint16_t)(h - 1))), "f16 %04x", h);
    }
}

static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

Test(safetensors, bf16_rounds_to_nearest_even) {
    cr_assert_eq(st_f32_to_bf16(1.0f), 0x3f80);
    cr_assert_eq(st_f32_to_bf16(from_bits(0x3f808000)), 0x3f80);  // tie, even below
    cr_assert_eq(st_f32_to_bf16(from_bits(0x3f818000)), 0x3f82);  // tie, even above
    cr_assert_eq(st_f32_to_bf16(from_bits(0x3f808001)), 0x3f81);  // above the tie
    cr_assert_eq(st_f32_to_bf16(from_bits(0x3f807fff)), 0x3f80);  // below the tie
    cr_assert_eq(st_f32_to_bf16(from_bits(0xbf818000)), 0xbf82);  // sign symmetric
    cr_assert_eq(st_f32_to_bf16(from_bits(0x7f7fffff)), 0x7f80);  // FLT_MAX rounds to inf, as torch does
    cr_assert_eq(st_f32_to_bf16(INFINITY), 0x7f80);
    cr_assert(isnan(st_bf16_to_f32(st_f32_to_bf16(NAN))));
    cr_assert(isnan(st_bf16_to_f32(st_f32_to_bf16(from_bits(0x7f800001)))));  // a NaN whose payload is all low bits
    for (uint32_t h = 0; h < 0x10000; h++)  // bf16 -> f32 -> bf16 is the identity (NaNs stay NaN)
        if ((h & 0x7fff) <= 0x7f80) cr_assert_eq(st_f32_to_bf16(st_bf16_to_f32((uint16_t)h)), h);
}

Test(safetensors, write_then_read) {
    char path[128];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    StSpec specs[3] = {{"x.weight", ST_F32, 2, {2, 3}}, {"empty", ST_F32, 1, {0}}, {"y", ST_BF16, 1, {5}}};
    float data[11] = {1, -2, 3.5f, 1e-30f, -0.0f, 7, 1, 1.00390625f, 3, -65536, 0.1f};
    const char *meta[] = {"format", "pt", NULL};
    StWriter w;
    Err e = {{0}};
    cr_assert_eq(st_write_begin(&w, path, specs, 3, meta, &e), 0, "%s", e.msg);
    cr_assert_eq(st_write_f32(&w, data, 4, &e), 0, "%s", e.msg);  // calls need not follow tensor boundaries
    cr_assert_eq(st_write_f32(&w, data + 4, 7, &e), 0, "%s", e.msg);
    cr_assert_eq(st_write_end(&w, &e), 0, "%s", e.msg);
    StFile f;
    cr_assert_eq(st_open(&f, path, &e), 0, "%s", e.msg);
    cr_assert_eq(f.data_start % 8, 0);
    cr_assert_str_eq(st_meta(&f, "format"), "pt");
    float got[6];
    cr_assert_eq(st_read_f32(&f, st_find(&f, "x.weight"), 0, 6, got, &e), 0, "%s", e.msg);
    cr_assert_eq(memcmp(got, data, sizeof got), 0);
    cr_assert_eq(st_read_f32(&f, st_find(&f, "y"), 1, 4, got, &e), 0, "%s", e.msg);  // a slice
    cr_assert(got[0] == 1.0f && got[1] == 3 && got[2] == -65536 && got[3] == st_bf16_to_f32(st_f32_to_bf16(0.1f)));
    cr_assert_neq(st_read_f32(&f, st_find(&f, "y"), 3, 3, got, &e), 0);
    cr_assert(strstr(e.msg, "'y'"), "%s", e.msg);
    st_close(&f);
    // Incomplete data is an error and leaves no file.
    cr_assert_eq(st_write_begin(&w, path, specs, 3, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(st_write_f32(&w, data, 10, &e), 0, "%s", e.msg);
    cr_assert_neq(st_write_end(&w, &e), 0);
    cr_assert(strstr(e.msg, "'y' was not written completely"), "%s", e.msg);
    cr_assert_neq(access(path, F_OK), 0);
}

Test(safetensors, non_float_dtypes_are_not_read_as_weights) {
    const char *p = file_with("{\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
    StFile f;
    Err e = {{0}};
    cr_assert_eq(st_open(&f, p, &e), 0, "%s", e.msg);
    float x[2];
    cr_assert_neq(st_read_f32(&f, &f.tensors[0], 0, 1, x, &e), 0);
    cr_assert(strstr(e.msg, "tensor 'i' has dtype I64"), "%s", e.msg);
    st_close(&f);
}

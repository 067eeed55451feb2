#include "eval/report.h"

#include <stdlib.h>
#include <string.h>

#include "base/jsonl.h"

cJSON *eval_record(const EvalSource *src, const RolloutConfig *rc, const EvalResult *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "benchmark", src->benchmark);
    cJSON_AddStringToObject(o, "file", src->file);
    cJSON_AddStringToObject(o, "checkpoint", src->checkpoint);
    cJSON_AddNumberToObject(o, "step", (double)src->step);
    cJSON_AddStringToObject(o, "revision", src->revision);
    cJSON_AddNumberToObject(o, "temperature", rc->temperature);
    cJSON_AddNumberToObject(o, "top_p", rc->top_p);
    cJSON_AddNumberToObject(o, "top_k", rc->top_k);
    cJSON_AddNumberToObject(o, "max_new_tokens", rc->max_new_tokens);
    cJSON_AddNumberToObject(o, "prompts", (double)r->prompts);
    cJSON_AddNumberToObject(o, "samples", r->samples);
    cJSON_AddNumberToObject(o, "avg", r->avg);
    cJSON_AddNumberToObject(o, "avg_stderr", r->avg_stderr);
    cJSON_AddNumberToObject(o, "maj", r->maj);
    for (int i = 0; i < r->n_pass; i++) {
        char key[32];
        snprintf(key, sizeof key, "pass@%d", r->pass_k[i]);
        cJSON_AddNumberToObject(o, key, r->pass[i]);
    }
    cJSON_AddNumberToObject(o, "length_mean", r->length_mean);
    cJSON_AddNumberToObject(o, "length_median", r->length_median);
    cJSON_AddNumberToObject(o, "length_p90", r->length_p90);
    cJSON_AddNumberToObject(o, "truncated", r->truncated);
    cJSON_AddNumberToObject(o, "skipped_lines", (double)r->skipped_lines);
    return o;
}

// The runs' last record per benchmark: records[run][benchmark] (borrowed from docs[run]), NULL where missing.
typedef struct {
    cJSON **docs;           // one array of records per run
    char **names;           // benchmarks in order of first appearance
    int n_names;
} Table;

static int index_of(Table *t, const char *name) {
    for (int i = 0; i < t->n_names; i++)
        if (!strcmp(t->names[i], name)) return i;
    t->names = xrealloc(t->names, (size_t)(t->n_names + 1) * sizeof *t->names);
    t->names[t->n_names] = strdup(name);
    return t->n_names++;
}

// Reads RUN_DIR/eval.jsonl into an array of records, each checked for the fields the table shows.
static int read_run(const char *dir, Table *t, cJSON **doc, Err *e) {
    char path[4096], where[ERR_PLACE_SIZE];
    snprintf(path, sizeof path, "%s/eval.jsonl", dir);
    JsonlReader r;
    TRY(jsonl_open(&r, path, e));
    *doc = cJSON_CreateArray();
    cJSON *obj;
    int rc;
    while ((rc = jsonl_next(&r, &obj, e)) == 1) {
        const char *name;
        const cJSON *avg = cJSON_GetObjectItemCaseSensitive(obj, "avg");
        if (!cJSON_HasObjectItem(obj, "benchmark")) {  // training's own held-out records share the file
            cJSON_Delete(obj), obj = NULL;
            continue;
        }
        if ((rc = json_get_string(obj, "benchmark", &name, jsonl_where(&r, where, sizeof where), e))) break;
        if (!cJSON_IsNumber(avg)) {
            rc = err_set(e, "%s: expected a number \"avg\" (a record of rlvr eval)", where);
            break;
        }
        index_of(t, name);
        cJSON_AddItemToArray(*doc, obj), obj = NULL;
    }
    cJSON_Delete(obj);
    jsonl_close(&r);
    return rc < 0 ? -1 : 0;
}

static const cJSON *last_record(const cJSON *doc, const char *name) {
    const cJSON *found = NULL, *o;
    cJSON_ArrayForEach(o, doc) if (!strcmp(cJSON_GetObjectItemCaseSensitive(o, "benchmark")->valuestring, name)) found = o;
    return found;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void print_row(const Table *t, const char *dir, const cJSON *doc, FILE *out) {
    const char *slash = strrchr(dir, '/');
    fprintf(out, "| %s |", slash && slash[1] ? slash + 1 : dir);
    double sum = 0, len = 0;
    int n = 0;
    for (int b = 0; b < t->n_names; b++) {
        const cJSON *o = last_record(doc, t->names[b]);
        if (!o) {
            fprintf(out, " – |");
            continue;
        }
        fprintf(out, " %.1f ± %.1f |", 100 * num(o, "avg"), 100 * num(o, "avg_stderr"));
        sum += num(o, "avg"), len += num(o, "length_mean"), n++;
    }
    if (n) fprintf(out, " %.1f | %.0f |\n", 100 * sum / n, len / n);
    else fprintf(out, " – | – |\n");
}

int eval_table(const char *const *run_dirs, int n_runs, FILE *out, Err *e) {
    Table t = {.docs = xcalloc((size_t)n_runs + 1, sizeof *t.docs)};
    int rc = 0;
    for (int i = 0; i < n_runs && !rc; i++) rc = read_run(run_dirs[i], &t, &t.docs[i], e);
    if (!rc) {
        fprintf(out, "| run |");
        for (int b = 0; b < t.n_names; b++) fprintf(out, " %s |", t.names[b]);
        fprintf(out, " avg | length |\n|---|");
        for (int b = 0; b < t.n_names + 2; b++) fprintf(out, "---|");
        fprintf(out, "\n");
        for (int i = 0; i < n_runs; i++) print_row(&t, run_dirs[i], t.docs[i], out);
    }
    for (int i = 0; i < n_runs; i++) cJSON_Delete(t.docs[i]);
    for (int b = 0; b < t.n_names; b++) free(t.names[b]);
    free(t.docs), free(t.names);
    return rc;
}

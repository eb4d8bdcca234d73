/* `omni dataset export`: the trainers' work as fine-tuning files, from the server's
 * database (the same --db as `omni serve`): SFT chat JSONL or DPO preference JSONL, only
 * consented users' data, personal data scrubbed (trainer/export.h). The files go
 * straight into `omni finetune --data` / `--dpo`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/accounts_db.h"
#include "cli/cli.h"
#include "trainer/export.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni dataset export --format sft|dpo [-o FILE] [--db URL]\n"
            "                           [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--model M] [--assistant ID]\n"
            "                           [--tag T] [--min-rating N] [--set ID]\n\n"
            "Writes the trainers' work as OpenAI fine-tuning JSONL (stdout without -o):\n"
            "  sft  {\"messages\":[...]} per line; a trainer's rewrite replaces the original answer;\n"
            "       --min-rating N adds original answers whose mean rubric score is at least N (1-7)\n"
            "  dpo  {\"input\":{\"messages\":[...]},\"preferred_output\":[...],\"non_preferred_output\":[...]}:\n"
            "       side-by-side winners over losers, rewrites over originals\n"
            "Only users who allow their conversations to be used are exported; e-mail addresses,\n"
            "phone, card and resident registration numbers are replaced ([EMAIL], [PHONE], ...).\n");
}

int cmd_dataset(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2;
    }
    if (strcmp(argv[1], "export")) return cli_fail("dataset: unknown subcommand '%s' (see `omni dataset --help`)", argv[1]);
    const char *format = NULL, *outp = NULL, *db = NULL, *from = NULL, *to = NULL, *rating = NULL;
    struct texport_filter f = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (i + 1 >= argc) return cli_fail("dataset: %s needs a value (see `omni dataset --help`)", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--format")) format = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) outp = v;
        else if (!strcmp(a, "--db")) db = v;
        else if (!strcmp(a, "--from")) from = v;
        else if (!strcmp(a, "--to")) to = v;
        else if (!strcmp(a, "--model")) f.model = v;
        else if (!strcmp(a, "--assistant")) f.assistant = v;
        else if (!strcmp(a, "--tag")) f.tag = v;
        else if (!strcmp(a, "--min-rating")) rating = v;
        else if (!strcmp(a, "--set")) f.set_id = v;
        else return cli_fail("dataset: unknown option '%s' (see `omni dataset --help`)", a);
    }
    if (!format) return cli_fail("dataset: --format sft or --format dpo is required");
    if (!trainer_export_format_ok(format)) return cli_fail("dataset: --format must be sft or dpo, not '%s'", format);
    if (from && (f.from = trainer_parse_day(from, 0)) < 0) return cli_fail("dataset: --from must be a date YYYY-MM-DD");
    if (to && (f.to = trainer_parse_day(to, 1)) < 0) return cli_fail("dataset: --to must be a date YYYY-MM-DD");
    if (rating) {
        char *end = NULL;
        f.min_rating = strtod(rating, &end);
        if (*end || !(f.min_rating >= 1 && f.min_rating <= 7)) return cli_fail("dataset: --min-rating must be a number from 1 to 7");
    }
    struct store *st = NULL;
    struct err e = {{0}};
    if (cli_db_open(db, &st, &e)) return cli_fail("dataset: %s", e.msg);
    char *jsonl = NULL;
    int64_t lines = 0;
    int rc = trainer_export(st, format, &f, &jsonl, &lines, &e);
    store_close(st);
    if (rc) return cli_fail("dataset: %s", e.msg);
    FILE *o = outp ? fopen(outp, "w") : stdout;
    if (!o) { free(jsonl); return cli_fail("dataset: cannot write %s", outp); }
    size_t n = strlen(jsonl);
    int bad = fwrite(jsonl, 1, n, o) != n;
    bad |= outp ? fclose(o) != 0 : fflush(o) != 0;
    free(jsonl);
    if (bad) return cli_fail("dataset: writing %s failed", outp ? outp : "stdout");
    fprintf(stderr, "dataset: %lld %s lines%s%s\n", (long long)lines, format, outp ? " to " : "", outp ? outp : "");
    return 0;
}

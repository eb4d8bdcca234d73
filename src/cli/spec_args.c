/* Speculative decoding options; see spec_args.h. */
#include "cli/spec_args.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

void cli_spec_init(struct cli_spec *s) {
    memset(s, 0, sizeof *s);
    s->draft_max = -1;
    s->draft_min = -1;
    s->draft_p_min = -1;
}

static int parse_count(const char *opt, const char *v, int lo, int hi, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) return cli_fail("%s: '%s' is not a number from %d to %d", opt, v, lo, hi), -1;
    *out = (int)x;
    return 1;
}

int cli_spec_arg(struct cli_spec *s, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (!strcmp(a, "--lookup")) return s->lookup = 1;
    int is_model = !strcmp(a, "--draft-model") || !strcmp(a, "-md"), is_max = !strcmp(a, "--draft-max"),
        is_min = !strcmp(a, "--draft-min"), is_p = !strcmp(a, "--draft-p-min");
    if (!is_model && !is_max && !is_min && !is_p) return 0;
    if (*i + 1 >= argc) return cli_fail("%s needs a value", a), -1;
    const char *v = argv[++*i];
    if (is_model) { s->draft_path = v; return 1; }
    if (is_p) {
        char *end;
        double p = strtod(v, &end);
        if (!*v || *end || !(p >= 0 && p <= 1)) return cli_fail("%s: '%s' is not a probability from 0 to 1", a, v), -1;
        s->draft_p_min = (float)p;
        return 1;
    }
    return parse_count(a, v, is_max ? 1 : 0, 256, is_max ? &s->draft_max : &s->draft_min);
}

int cli_spec_load(struct cli_spec *s, const omni_model_params *mp, omni_engine_params *ep) {
    if (s->draft_max > 0) ep->draft_max = s->draft_max;
    if (s->draft_min >= 0) ep->draft_min = s->draft_min;
    if (s->draft_p_min >= 0) ep->draft_p_min = s->draft_p_min;
    ep->lookup = s->lookup;
    if (!s->draft_path) return 0;
    char err[512];
    omni_model_params dp = omni_model_default_params();
    dp.n_threads = mp ? mp->n_threads : 0;
    if (!(s->draft = omni_model_load(s->draft_path, &dp, err, sizeof err)))
        return cli_fail("--draft-model: %s", err), -1;
    ep->draft = s->draft;
    return 0;
}

void cli_spec_free(struct cli_spec *s) {
    omni_model_free(s->draft);
    s->draft = NULL;
}

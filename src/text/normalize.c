/* Text normalisation for speech (see normalize.h). */
#include "text/normalize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *text_normalize(const char *text, const char *lang) { (void)lang; return strdup(text); }
int text_number_en(char *buf, int size, unsigned long long n) { return snprintf(buf, size, "%llu", n); }

/* JSON scalar lexer; see json_lex.h. Numbers follow the JSON grammar
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? with capped digit runs; strings
 * reject raw control bytes, unknown escapes and broken UTF-8. */
#include "text/json_lex.h"

#include <string.h>

enum {
    L_STR = 1, L_STR_ESC, L_STR_HEX,
    L_NUM_SIGN, L_NUM_ZERO, L_NUM_INT, L_NUM_DOT, L_NUM_FRAC, L_NUM_E, L_NUM_ESIGN, L_NUM_EXP,
    L_LIT,
};

static const char *const LITS[3] = {"true", "false", "null"};

int json_lex_begin(struct json_lex *l, unsigned char c, int int_only) {
    memset(l, 0, sizeof *l);
    l->int_only = (uint8_t)(int_only != 0);
    switch (c) {
    case '"': l->mode = L_STR; return JSON_LEX_MORE;
    case '-': l->mode = L_NUM_SIGN; return JSON_LEX_MORE;
    case '0': l->mode = L_NUM_ZERO; l->ndig = 1; return JSON_LEX_MORE;
    case 't': case 'f': case 'n':
        l->mode = L_LIT;
        l->lit = c == 't' ? 0 : c == 'f' ? 1 : 2;
        l->aux = 1;
        return JSON_LEX_MORE;
    default:
        if (c >= '1' && c <= '9') { l->mode = L_NUM_INT; l->ndig = 1; return JSON_LEX_MORE; }
        return JSON_LEX_ERR;
    }
}

static int is_hex(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static int string_step(struct json_lex *l, unsigned char c) {
    if (l->mode == L_STR_ESC) {
        if (c == 'u') { l->mode = L_STR_HEX; l->aux = 4; return JSON_LEX_MORE; }
        if (!c || !strchr("\"\\/bfnrt", c)) return JSON_LEX_ERR;
        l->mode = L_STR;
        return JSON_LEX_MORE;
    }
    if (l->mode == L_STR_HEX) {
        if (!is_hex(c)) return JSON_LEX_ERR;
        if (--l->aux == 0) l->mode = L_STR;
        return JSON_LEX_MORE;
    }
    if (l->utf8) {
        if ((c & 0xC0) != 0x80) return JSON_LEX_ERR;
        l->utf8--;
        return JSON_LEX_MORE;
    }
    if (c == '"') return JSON_LEX_END;
    if (c < 0x20 || c == 0x7f) return JSON_LEX_ERR;
    if (c == '\\') l->mode = L_STR_ESC;
    else if (c >= 0x80) { /* UTF-8 lead byte: how many continuation bytes follow */
        if (c >= 0xC2 && c <= 0xDF) l->utf8 = 1;
        else if (c >= 0xE0 && c <= 0xEF) l->utf8 = 2;
        else if (c >= 0xF0 && c <= 0xF4) l->utf8 = 3;
        else return JSON_LEX_ERR;
    }
    if (l->chars < UINT16_MAX) l->chars++;
    return JSON_LEX_MORE;
}

static int digit(struct json_lex *l, int max) {
    if (l->ndig >= max) return JSON_LEX_ERR;
    l->ndig++;
    return JSON_LEX_MORE;
}

int json_lex_step(struct json_lex *l, unsigned char c) {
    int d = c >= '0' && c <= '9';
    switch (l->mode) {
    case L_STR: case L_STR_ESC: case L_STR_HEX: return string_step(l, c);
    case L_LIT:
        if (c != (unsigned char)LITS[l->lit][l->aux]) return JSON_LEX_ERR;
        return LITS[l->lit][++l->aux] ? JSON_LEX_MORE : JSON_LEX_END;
    case L_NUM_SIGN:
        if (c == '0') { l->mode = L_NUM_ZERO; l->ndig = 1; return JSON_LEX_MORE; }
        if (d) { l->mode = L_NUM_INT; l->ndig = 1; return JSON_LEX_MORE; }
        return JSON_LEX_ERR;
    case L_NUM_INT:
        if (d) return digit(l, JSON_LEX_MAX_INT_DIGITS);
        /* fall through */
    case L_NUM_ZERO:
        if (d) return JSON_LEX_ERR; /* no leading zeros */
        if (l->int_only) return JSON_LEX_BEFORE;
        if (c == '.') { l->mode = L_NUM_DOT; l->ndig = 0; return JSON_LEX_MORE; }
        if (c == 'e' || c == 'E') { l->mode = L_NUM_E; l->ndig = 0; return JSON_LEX_MORE; }
        return JSON_LEX_BEFORE;
    case L_NUM_DOT:
        if (d) { l->mode = L_NUM_FRAC; l->ndig = 1; return JSON_LEX_MORE; }
        return JSON_LEX_ERR;
    case L_NUM_FRAC:
        if (d) return digit(l, JSON_LEX_MAX_FRAC_DIGITS);
        if (c == 'e' || c == 'E') { l->mode = L_NUM_E; l->ndig = 0; return JSON_LEX_MORE; }
        return JSON_LEX_BEFORE;
    case L_NUM_E:
        if (c == '+' || c == '-') { l->mode = L_NUM_ESIGN; return JSON_LEX_MORE; }
        /* fall through */
    case L_NUM_ESIGN:
        if (d) { l->mode = L_NUM_EXP; l->ndig = 1; return JSON_LEX_MORE; }
        return JSON_LEX_ERR;
    case L_NUM_EXP:
        if (d) return digit(l, JSON_LEX_MAX_EXP_DIGITS);
        return JSON_LEX_BEFORE;
    default: return JSON_LEX_ERR;
    }
}

int json_lex_complete(const struct json_lex *l) {
    return l->mode == L_NUM_ZERO || l->mode == L_NUM_INT || l->mode == L_NUM_FRAC || l->mode == L_NUM_EXP;
}

int json_lex_in_string(const struct json_lex *l) {
    return l->mode == L_STR || l->mode == L_STR_ESC || l->mode == L_STR_HEX;
}

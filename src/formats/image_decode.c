/* Image decoding with stb_image (Debian libstb-dev header). The implementation is
 * compiled here, static, with only the decoders we want: fewer parsers facing
 * untrusted bytes, and no clash with a libstb.so that may also be linked. */
#include "formats/image_decode.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO      /* we read files ourselves, so errors name the path */
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_NO_PSD
#define STBI_NO_PIC
#define STBI_NO_PNM
#define STBI_NO_TGA        /* no magic bytes: would claim random input */
#define STBI_MAX_DIMENSIONS (1 << 16)
/* Left on for the whole file: GCC reports stb's declared-but-undefined static
 * (stbi_set_unpremultiply_on_load_thread) at the end of the translation unit. */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

/* Files larger than this are refused before reading: no sane image needs more. */
#define IMAGE_MAX_FILE_BYTES (512L * 1024 * 1024)

const char *image_format_name(const void *data, size_t size) {
    const uint8_t *p = data;
    if (size >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return "png";
    if (size >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return "jpeg";
    if (size >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6))) return "gif";
    if (size >= 2 && p[0] == 'B' && p[1] == 'M') return "bmp";
    if (size >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4)) return "webp";
    if (size >= 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '6') return "pnm";
    if (size >= 4 && !memcmp(p, "8BPS", 4)) return "psd";
    if (size >= 12 && !memcmp(p + 4, "ftyp", 4) &&
        (!memcmp(p + 8, "heic", 4) || !memcmp(p + 8, "heix", 4) || !memcmp(p + 8, "avif", 4) ||
         !memcmp(p + 8, "mif1", 4)))
        return "heif/avif";
    return "unknown";
}

/* stb_image 2.27 (Debian 12) trusts a JPEG Huffman table's code counts: more than
 * 256 codes overrun its tables (fixed upstream in 2.28). Walk the JPEG's marker
 * segments and refuse such a table before stb sees it. Returns 0 if acceptable. */
static int jpeg_tables_bad(const uint8_t *p, size_t n) {
    size_t i = 2;                                   /* after SOI */
    while (i + 4 <= n) {
        if (p[i] != 0xff) { i++; continue; }        /* entropy-coded data: skip to a marker */
        uint8_t m = p[i + 1];
        if (m == 0xff) { i++; continue; }           /* fill byte */
        if (m == 0x00 || (m >= 0xd0 && m <= 0xd8) || m == 0x01) { i += 2; continue; } /* stuffed, RSTn, SOI, TEM */
        if (m == 0xd9) return 0;                    /* EOI */
        size_t len = ((size_t)p[i + 2] << 8) | p[i + 3];
        if (len < 2) return 1;
        size_t end = i + 2 + len;
        if (end > n) end = n;
        if (m == 0xc4) {                            /* DHT: one or more tables */
            size_t q = i + 4;
            /* stb reads a table while the segment has bytes left, and its counts
             * may run past the segment (or the file, read as 0) */
            while (q < end) {
                size_t count = 0;
                for (size_t k = 1; k <= 16 && q + k < n; k++) count += p[q + k];
                if (count > 256) return 1;
                q += 17 + count;
            }
        }
        i = i + 2 + len;
    }
    return 0;
}

int image_decode_memory(const void *data, size_t size, long max_pixels, const char *what,
                        struct image *out, struct err *e) {
    memset(out, 0, sizeof *out);
    if (!what) what = "image";
    if (max_pixels <= 0) max_pixels = IMAGE_DEFAULT_MAX_PIXELS;
    if (!data || size == 0) return err_set(e, "%s: empty image data", what);
    if (size > INT_MAX) return err_set(e, "%s: image data too large (%zu bytes)", what, size);
    const char *fmt = image_format_name(data, size);
    if (!strcmp(fmt, "webp") || !strcmp(fmt, "psd") || !strcmp(fmt, "heif/avif"))
        return err_set(e, "%s: %s images are not supported (use PNG, JPEG, GIF or BMP)", what, fmt);

    if (!strcmp(fmt, "jpeg") && jpeg_tables_bad(data, size))
        return err_set(e, "%s: corrupt JPEG (a Huffman table has more than 256 codes)", what);

    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(data, (int)size, &w, &h, &comp))
        return err_set(e, "%s: not a decodable image (%s: %s)", what, fmt, stbi_failure_reason());
    if (w <= 0 || h <= 0) return err_set(e, "%s: image has no pixels (%dx%d)", what, w, h);
    if ((long long)w * h > max_pixels)
        return err_set(e, "%s: image is %dx%d = %lld pixels, over the limit of %ld", what, w, h,
                       (long long)w * h, max_pixels);

    int w2 = 0, h2 = 0;
    uint8_t *px = stbi_load_from_memory(data, (int)size, &w2, &h2, &comp, 3);
    if (!px) return err_set(e, "%s: corrupt or truncated %s image (%s)", what, fmt, stbi_failure_reason());
    if (w2 != w || h2 != h) {  /* header and decoder disagree: trust neither */
        free(px);
        return err_set(e, "%s: inconsistent %s image size (%dx%d vs %dx%d)", what, fmt, w, h, w2, h2);
    }
    out->w = w;
    out->h = h;
    out->rgb = px;
    return 0;
}

int image_decode_file(const char *path, long max_pixels, struct image *out, struct err *e) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, "%s: cannot open (%s)", path, strerror(errno));
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return err_set(e, "%s: cannot read (not a regular file?)", path);
    }
    if (n > IMAGE_MAX_FILE_BYTES) {
        fclose(f);
        return err_set(e, "%s: file is %ld bytes, too large for an image", path, n);
    }
    uint8_t *buf = malloc(n ? (size_t)n : 1);
    if (!buf) {
        fclose(f);
        return err_set(e, "%s: out of memory reading %ld bytes", path, n);
    }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    int rc = got != (size_t)n ? err_set(e, "%s: short read", path)
                              : image_decode_memory(buf, (size_t)n, max_pixels, path, out, e);
    free(buf);
    return rc;
}

void image_free(struct image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

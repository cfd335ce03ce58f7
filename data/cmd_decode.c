/* haq decode: one JPEG to a PPM (RGB) or PGM (grayscale) file. */
#include "cmd_decode.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/image.h"
#include "data/inflate.h"
#include "data/jpeg.h"
#include "nn/cpu.h"
#include "nn/error.h"

static void usage(FILE *f) {
    fprintf(f, "usage: haq decode IN.jpg -o OUT.ppm\n"
               "  Decode a JPEG (baseline or progressive) and write it as binary PPM (P6, RGB)\n"
               "  or PGM (P5, grayscale files).\n"
               "  -o, --out PATH   output file (required)\n"
               "  -s, --scale N    decode at 1/N of the size (N = 1, 2, 4, 8; default 1)\n"
               "  -h, --help       this text\n"
               "Damaged input still gives an image when it can (a warning is printed).\n");
}

int data_cmd_decode(int argc, char **argv) {
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"scale", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL;
    int c, scale = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:s:h", opts, NULL)) != -1) {
        if (c == 'o') {
            out = optarg;
        } else if (c == 's') {
            scale = atoi(optarg);
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!out || optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *in = argv[optind];
    struct data_jpeg *d = data_jpeg_new();
    if (!d || data_jpeg_set_scale(d, scale)) {
        fprintf(stderr, "haq decode: %s\n", nn_errmsg());
        data_jpeg_free(d);
        return d ? 2 : 1;
    }
    struct data_image img = {0};
    int warn = 0;
    uint8_t *buf;
    size_t n;
    double t0 = nn_now();
    int rc = data_read_file(in, &buf, &n);
    if (rc == 0) {
        rc = data_jpeg_decode(d, buf, n, &img, &warn);
        free(buf);
    }
    data_jpeg_free(d);
    if (rc) {
        fprintf(stderr, "haq decode: %s: %s\n", in, nn_errmsg());
        return 1;
    }
    double ms = (nn_now() - t0) * 1e3;
    if (warn)
        fprintf(stderr, "haq decode: %s: warning:%s%s\n", in,
                warn & DATA_JPEG_WARN_TRUNCATED ? " data truncated" : "",
                warn & DATA_JPEG_WARN_CORRUPT ? " corrupt data" : "");
    rc = data_image_write_pnm(out, &img);
    if (rc)
        fprintf(stderr, "haq decode: %s\n", nn_errmsg());
    else
        printf("result w=%d h=%d c=%d warnings=%d ms=%.3f\n", img.w, img.h, img.c, warn, ms);
    data_image_free(&img);
    return rc ? 1 : 0;
}

/* Bit-width policies: both forms, the uniform shorthand, validation against a network, errors
 * that name the line, and round trips through files. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/error.h"
#include "nn/models.h"
#include "quant/policy.h"

/* conv 3→8 (stem), depthwise 8, linear 8→4: three quantizable layers. */
static struct nn_graph *tiny(void) {
    struct nn_graph *g = nn_graph_new(8, 8, 3);
    int x = nn_conv(g, "stem", 0, 8, 3, 3, 2, 1, 1, 1, 0);
    x = nn_bn(g, "stem_bn", x, NN_ACT_RELU6);
    x = nn_conv(g, "dw", x, 8, 3, 3, 1, 1, 1, 8, 0);
    x = nn_avgpool(g, "pool", x);
    nn_linear(g, "fc", x, 4, 1);
    ck_assert(!g->failed);
    return g;
}

static int parse(struct q_policy *p, const char *text, const struct nn_graph *g) {
    return q_policy_parse(p, text, strlen(text), "pol.txt", g);
}

START_TEST(text_and_list_forms) {
    struct nn_graph *g = tiny();
    ck_assert_int_eq(q_layers(g, NULL), 3);
    struct q_policy p;
    const char *text = "# a policy\n\nstem 8 -1   # first layer: image input\n"
                       "dw 4 3\n  fc float 32\n";
    ck_assert_msg(parse(&p, text, g) == 0, "%s", nn_errmsg());
    ck_assert_int_eq(p.n, 3);
    ck_assert_int_eq(p.w_bits[0], 8);
    ck_assert_int_eq(p.a_bits[0], Q_FLOAT);
    ck_assert_int_eq(p.w_bits[1], 4);
    ck_assert_int_eq(p.a_bits[1], 3);
    ck_assert_int_eq(p.w_bits[2], Q_FLOAT);
    ck_assert_int_eq(p.a_bits[2], Q_FLOAT);
    char buf[512];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ck_assert_int_eq(q_policy_write_list(&p, f), 0);
    fclose(f);
    ck_assert_str_eq(buf, "[[8, -1], [4, 3], [32, -1]]\n");
    q_policy_free(&p);

    /* The list form as the release prints it, across lines, with a trailing comma. */
    ck_assert_int_eq(parse(&p, "[[8, -1],\n [7, 7],\n [6, 0],]\n", g), 0);
    ck_assert_int_eq(p.w_bits[1], 7);
    ck_assert_int_eq(p.a_bits[2], Q_FLOAT);
    q_policy_free(&p);
    /* Weights-only (k-means) flat list, and names omitted in the text form. */
    ck_assert_int_eq(parse(&p, "[8, 3, 2]", g), 0);
    ck_assert_int_eq(p.w_bits[1], 3);
    ck_assert_int_eq(p.a_bits[1], Q_FLOAT);
    q_policy_free(&p);
    ck_assert_int_eq(parse(&p, "8 8\n2 2\n5 6\n", g), 0);
    ck_assert_int_eq(p.a_bits[2], 6);
    q_policy_free(&p);
    nn_graph_free(g);
}
END_TEST

START_TEST(errors_name_the_line) {
    struct nn_graph *g = tiny();
    struct q_policy p;
    static const struct {
        const char *text, *expect;
    } bad[] = {
        {"stem 8 8\ndw 4 4\n", "2 layers in the policy, the network has 3"},
        {"stem 8 8\nfc 4 4\ndw 4 4\n", "named 'fc' in the policy but 'dw'"},
        {"stem 8 8\n\n# c\ndw 9 4\nfc 4 4\n", "pol.txt:4: weight bits 9"},
        {"stem 8 8\ndw 4 -1\nfc 4 40\n", "pol.txt:3: activation bits 40"},
        {"stem 8 8\ndw -1 4\nfc 4 4\n", "pol.txt:2: weight bits -1"},
        {"stem 8 8 8\n", "pol.txt:1: more than three fields"},
        {"stem\n", "pol.txt:1: one field"},
        {"stem 8 eight\n", "pol.txt:1: 'eight' is not a bit-width"},
        {"[[8, -1], [4, 4]", "pol.txt:1: expected ','"},
        {"[[8, -1],\n [4 4]]", "pol.txt:2: expected ','"},
        {"[[8, -1], [4, 4], [2, 2]] x", "text after"},
        {"[[8], [4, 4], [2, 2]]", "expected ','"},
        {"", "empty policy"},
        {"# only a comment\n", "empty policy"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_ne(parse(&p, bad[i].text, g), 0);
        ck_assert_msg(strstr(nn_errmsg(), bad[i].expect), "case %zu: '%s'", i, nn_errmsg());
        ck_assert_ptr_null(p.w_bits);
    }
    ck_assert_int_ne(q_policy_parse(&p, "8 8\0", 4, "nul", NULL), 0);
    nn_graph_free(g);
}
END_TEST

START_TEST(uniform_and_files) {
    struct nn_model_cfg cfg = nn_model_defaults("mobilenet_v2");
    struct nn_graph *g = nn_model_build(&cfg);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(q_layers(g, NULL), 53);
    struct q_policy p, r;
    int w, a;
    ck_assert_int_eq(q_policy_parse_uniform("w6a5", &w, &a), 0);
    ck_assert_int_eq(w * 10 + a, 65);
    ck_assert_int_ne(q_policy_parse_uniform("w9a4", &w, &a), 0);
    ck_assert_int_ne(q_policy_parse_uniform("w4a", &w, &a), 0);
    ck_assert_int_ne(q_policy_parse_uniform("w4a44", &w, &a), 0);
    ck_assert_int_eq(q_policy_from_arg(&p, "w4a4", g), 0);
    ck_assert_int_eq(p.n, 53);
    for (int i = 0; i < 53; i++) ck_assert_int_eq(p.w_bits[i] * 10 + p.a_bits[i], 44);
    p.a_bits[0] = Q_FLOAT;
    p.w_bits[52] = 8;

    char path[] = "/tmp/haq_pol_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ck_assert_int_eq(q_policy_save(&p, g, path), 0);
    ck_assert_msg(q_policy_from_arg(&r, path, g) == 0, "%s", nn_errmsg());
    ck_assert_int_eq(r.n, 53);
    ck_assert_int_eq(memcmp(p.w_bits, r.w_bits, 53 * sizeof(int)), 0);
    ck_assert_int_eq(memcmp(p.a_bits, r.a_bits, 53 * sizeof(int)), 0);
    q_policy_free(&r);
    ck_assert_int_eq(q_policy_from_arg(&r, "[[8, -1], [4, 4]]", NULL), 0);
    ck_assert_int_eq(r.n, 2);
    q_policy_free(&r);
    ck_assert_int_ne(q_policy_from_arg(&r, "[[8, -1], [4, 4]]", g), 0);
    ck_assert_int_ne(q_policy_from_arg(&r, "w4a4", NULL), 0);
    ck_assert_int_ne(q_policy_from_arg(&r, "/nonexistent/policy.txt", g), 0);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "/nonexistent/policy.txt"));
    ck_assert_int_eq(q_policy_check(&p, g), 0);
    p.w_bits[3] = 11;
    ck_assert_int_ne(q_policy_check(&p, g), 0);
    unlink(path);
    q_policy_free(&p);
    nn_graph_free(g);
}
END_TEST

Suite *suite_quant_policy(void) {
    Suite *s = suite_create("quant_policy");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, text_and_list_forms);
    tcase_add_test(tc, errors_name_the_line);
    tcase_add_test(tc, uniform_and_files);
    suite_add_tcase(s, tc);
    return s;
}

/* Run reports and TensorBoard event files: the report of the fixture run (elements counted per
 * chart, self-contained, the summary), HTML escaping of hostile names, every kind of broken
 * run file named with its line, a run without episodes, the command; CRC-32C vectors, record
 * framing and the Event/Summary protobuf fields read back by an independent reader here. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nn/error.h"
#include "rl/cmd.h"
#include "rl/report.h"
#include "rl/tfevents.h"
#include "tests/testutil.h"

#define RUN TU_FIXTURE("search_run")

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *p = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return p;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *s = hay; (s = strstr(s, needle)); s += strlen(needle)) n++;
    return n;
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (!stat(path, &st) && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static char *temp_dir(char *buf) {
    strcpy(buf, "/tmp/haq_rl_report.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(buf));
    return buf;
}

/* ---- a small run, valid unless one file is replaced --------------------------------------- */

static const char config_ok[] = "# a run\narch = mobilenet_v2\nratio = 0.5\nmetric = latency\n"
                                "fp_top1 = 70\nunknown_key = kept\n";
static const char ep_head[] = "episode,reward,top1,fp_top1,cost_ratio,latency_ms,energy_mj,"
                              "size_bytes,sigma,best,t_finetune,t_eval,t_agent,t_hw,w_bits,"
                              "a_bits\n";
static const char ep_rows[] = "0,-1.0,60,70,0.48,1,2,300,0,1,4,1,0,0.01,8 4 6,-1 5 5\n"
                              "1,-0.5,65,70,0.50,1,2,300,0.5,1,4,1,0.1,0.01,6 4 6,-1 5 6\r\n"
                              "\n"
                              "2,-0.8,62,70,0.49,1,2,300,0.49,0,4,1,0.1,0.01,4 4 4,-1 4 4\n";
static const char ly_head[] = "layer,name,type,c_in,c_out,kernel,stride,macs,weights,w_bits,"
                              "a_bits,latency_ms,energy_mj,latency_ms_8,energy_mj_8\n";
static const char ly_rows[] = "0,features.0.0,conv,3,32,3,2,1000,864,6,-1,0.5,1,0.6,1.2\n"
                              "1,features.1.conv.0.0,dw,32,32,3,1,500,288,4,5,0.2,0.3,0.3,0.5\n"
                              "2,classifier.1,fc,1280,10,1,1,12800,12800,6,6,0.1,0.1,0.1,0.2\n";

static void make_run(const char *dir, const char *config, const char *episodes,
                     const char *layers) {
    if (config) write_file(dir, "config.txt", config);
    if (episodes) write_file(dir, "episodes.csv", episodes);
    if (layers) write_file(dir, "layers.csv", layers);
}

static char *cat(const char *a, const char *b) {
    char *s = malloc(strlen(a) + strlen(b) + 1);
    strcpy(s, a);
    strcat(s, b);
    return s;
}

/* ---- the fixture run --------------------------------------------------------------------- */

START_TEST(fixture_report) {
    char dir[64], out[256];
    temp_dir(dir);
    snprintf(out, sizeof out, "%s/sub/report.html", dir);
    struct rl_report_summary s;
    ck_assert_msg(rl_report_write_summary(RUN, out, &s) == 0, "%s", nn_errmsg());
    ck_assert_int_eq(s.episodes, 100);
    ck_assert_int_eq(s.layers, 53);
    ck_assert_int_eq(s.best_episode, 89);
    ck_assert_double_eq_tol(s.best_reward, -0.301478, 1e-9);
    ck_assert_double_eq_tol(s.best_top1, 68.7852, 1e-9);
    char *html = slurp(out, NULL);
    /* one scatter point and one reward dot per episode, warm-up ones (0 … 20) marked */
    ck_assert_int_eq(count(html, "<circle class=\"pt"), 100);
    ck_assert_int_eq(count(html, "<circle class=\"pt w\""), 21);
    ck_assert_int_eq(count(html, "<circle class=\"rw"), 100);
    ck_assert_int_eq(count(html, "<circle class=\"bestmark\""), 1);
    ck_assert_int_eq(count(html, "<rect class=\"warm\""), 2);
    /* one weight and one activation bar per layer, typed; cost bars per layer */
    ck_assert_int_eq(count(html, "<rect class=\"wbar"), 53);
    ck_assert_int_eq(count(html, "<rect class=\"abar"), 53);
    ck_assert_int_eq(count(html, "<rect class=\"wbar t-dw"), 17);
    ck_assert_int_eq(count(html, "<rect class=\"wbar t-fc"), 1);
    ck_assert_int_eq(count(html, "<rect class=\"wbar t-conv"), 35);
    ck_assert_int_eq(count(html, "<rect class=\"lat8\""), 53);
    ck_assert_int_eq(count(html, "<rect class=\"latq t-"), 53);
    ck_assert_int_eq(count(html, "<rect class=\"en8\""), 53);
    ck_assert_int_eq(count(html, "<rect class=\"enq t-"), 53);
    ck_assert_int_eq(count(html, "<line class=\"budget\""), 1);
    ck_assert_int_eq(count(html, "<polyline class=\"bsf\""), 1);
    ck_assert_int_eq(count(html, "<polyline class=\"sig\""), 1);
    /* self-contained */
    ck_assert_ptr_null(strstr(html, "<script"));
    ck_assert_ptr_null(strstr(html, "http"));
    ck_assert_ptr_null(strstr(html, "url("));
    ck_assert_ptr_null(strstr(html, "@import"));
    ck_assert_ptr_null(strstr(html, "<link"));
    /* the summary and the configuration */
    ck_assert_ptr_nonnull(strstr(html, "<b>68.79 %</b> (episode 89, -3.01 points)"));
    ck_assert_ptr_nonnull(strstr(html, "<th>cost_8bit</th><td>39.055697</td>"));
    ck_assert_ptr_nonnull(strstr(html, "<th>finetune_steps</th>"));
    ck_assert_ptr_nonnull(strstr(html, "100 (21 warm-up)"));
    ck_assert_ptr_nonnull(strstr(html, "budget 0.6"));
    ck_assert_ptr_nonnull(strstr(html, "features.17.conv.1.0"));
    ck_assert_ptr_nonnull(strstr(html, "</html>\n"));
    free(html);
    remove_tree(dir);
}
END_TEST

/* ---- escaping ---------------------------------------------------------------------------- */

START_TEST(hostile_strings_escaped) {
    char dir[64], out[256];
    temp_dir(dir);
    char *layers =
        cat(ly_head, "0,\"<script>alert(\"\"x\"\")</script>, &amp;\",conv,3,32,3,2,1000,864,6,-1,"
                     "0.5,1,0.6,1.2\n"
                     "1,features.1.conv.0.0,dw,32,32,3,1,500,288,4,5,0.2,0.3,0.3,0.5\n"
                     "2,'quoted',fc,1280,10,1,1,12800,12800,6,6,0.1,0.1,0.1,0.2\n");
    char *episodes = cat(ep_head, ep_rows);
    make_run(dir, "arch = <img src=x onerror=alert(1)>\n<key> = \"v\" & 'w'\n", episodes,
             layers);
    snprintf(out, sizeof out, "%s/r.html", dir);
    ck_assert_msg(rl_report_write(dir, out) == 0, "%s", nn_errmsg());
    char *html = slurp(out, NULL);
    ck_assert_ptr_null(strstr(html, "<script"));
    ck_assert_ptr_null(strstr(html, "<img"));
    ck_assert_ptr_null(strstr(html, "<key>"));
    ck_assert_ptr_nonnull(strstr(html, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;, "
                                       "&amp;amp;"));
    ck_assert_ptr_nonnull(strstr(html, "&lt;img src=x onerror=alert(1)&gt;"));
    ck_assert_ptr_nonnull(strstr(html, "<th>&lt;key&gt;</th><td>&quot;v&quot; &amp; "
                                       "&#39;w&#39;</td>"));
    ck_assert_ptr_nonnull(strstr(html, "&#39;quoted&#39;"));
    ck_assert_int_eq(count(html, "<circle class=\"pt"), 3);
    ck_assert_int_eq(count(html, "<rect class=\"wbar"), 3);
    free(html);
    free(layers);
    free(episodes);
    remove_tree(dir);
}
END_TEST

/* ---- broken files -------------------------------------------------------------------------- */

struct broken {
    const char *config, *episodes, *layers; /* NULL: the file is absent */
    const char *want1, *want2;              /* both must be in the message */
};

START_TEST(malformed_inputs_named) {
    static const char ep_ok_rows[] = "0,-1.0,60,70,0.48,1,2,300,0,1,4,1,0,0.01,8 4 6,-1 5 5\n";
    char e_short[512], e_num[512], e_bits[512], e_count[512], e_int[512], e_quote[512];
    char e_nl[512], e_inf[512], e_layers[512], e_best[512];
    snprintf(e_short, sizeof e_short, "%s%s0,-1.0,60,70,0.48,1,2,300,0,1,4,1,0,8 4 6,-1 5 5\n",
             ep_head, ep_ok_rows);
    snprintf(e_num, sizeof e_num, "%s%s1,-1.0,6x0,70,0.48,1,2,300,0,1,4,1,0,0.01,8 4 6,-1 5 5\n",
             ep_head, ep_ok_rows);
    snprintf(e_bits, sizeof e_bits, "%s1,-1.0,60,70,0.48,1,2,300,0,1,4,1,0,0.01,8 9 6,-1 5 5\n",
             ep_head);
    snprintf(e_count, sizeof e_count, "%s%s1,-1.0,60,70,0.48,1,2,300,0,0,4,1,0,0.01,8 4,-1 5\n",
             ep_head, ep_ok_rows);
    snprintf(e_int, sizeof e_int, "%s1.5,-1.0,60,70,0.48,1,2,300,0,1,4,1,0,0.01,8 4 6,-1 5 5\n",
             ep_head);
    snprintf(e_quote, sizeof e_quote, "%s\"1,-1.0,60,70,0.48,1,2,300,0,1,4,1,0,0.01,8,-1\n",
             ep_head);
    snprintf(e_nl, sizeof e_nl, "%s%s", "episode,reward\n", ep_ok_rows);
    snprintf(e_inf, sizeof e_inf, "%s1,-1.0,inf,70,0.48,1,2,300,0,1,4,1,0,0.01,8 4 6,-1 5 5\n",
             ep_head);
    snprintf(e_best, sizeof e_best, "%s1,-1.0,60,70,0.48,1,2,300,0,2,4,1,0,0.01,8 4 6,-1 5 5\n",
             ep_head);
    snprintf(e_layers, sizeof e_layers, "%s%s", ly_head,
             "0,features.0.0,conv,3,32,3,2,1000,864,6,-1,0.5,1,0.6,1.2\n");
    char ep_ok[1024], ly_ok[1024], ly_type[1024], ly_bits[1024], ly_short[1024];
    snprintf(ep_ok, sizeof ep_ok, "%s%s", ep_head, ep_rows);
    snprintf(ly_ok, sizeof ly_ok, "%s%s", ly_head, ly_rows);
    snprintf(ly_type, sizeof ly_type, "%s%s%s", ly_head,
             "0,features.0.0,conv,3,32,3,2,1000,864,6,-1,0.5,1,0.6,1.2\n"
             "1,features.1.conv.0.0,pool,32,32,3,1,500,288,4,5,0.2,0.3,0.3,0.5\n",
             "2,classifier.1,fc,1280,10,1,1,12800,12800,6,6,0.1,0.1,0.1,0.2\n");
    snprintf(ly_bits, sizeof ly_bits, "%s%s", ly_head,
             "0,features.0.0,conv,3,32,3,2,1000,864,12,-1,0.5,1,0.6,1.2\n");
    snprintf(ly_short, sizeof ly_short, "%s%s", ly_head, "0,features.0.0,conv,3,32\n");
    const struct broken cases[] = {
        {NULL, ep_ok, ly_ok, "config.txt", "No such file"},
        {config_ok, NULL, ly_ok, "episodes.csv", "No such file"},
        {config_ok, ep_ok, NULL, "layers.csv", "No such file"},
        {"arch mobilenet_v2\n", ep_ok, ly_ok, "config.txt:1:", "key = value"},
        {"# c\n = 3\n", ep_ok, ly_ok, "config.txt:2:", "empty key"},
        {config_ok, "", ly_ok, "episodes.csv", "no header"},
        {config_ok, e_short, ly_ok, "episodes.csv:3:", "15 columns, the header has 16"},
        {config_ok, e_num, ly_ok, "episodes.csv:3:", "column 'top1': bad number '6x0'"},
        {config_ok, e_inf, ly_ok, "episodes.csv:2:", "column 'top1': bad number 'inf'"},
        {config_ok, e_bits, ly_ok, "episodes.csv:2:", "'w_bits': bad bit-width at entry 2"},
        {config_ok, e_count, ly_ok, "episodes.csv:3:", "2 layers, earlier episodes have 3"},
        {config_ok, e_int, ly_ok, "episodes.csv:2:", "column 'episode': bad integer '1.5'"},
        {config_ok, e_best, ly_ok, "episodes.csv:2:", "'best': 2 is outside [0, 1]"},
        {config_ok, e_quote, ly_ok, "episodes.csv:2:", "unterminated quoted field"},
        {config_ok, e_nl, ly_ok, "episodes.csv:1:", "no column 'top1'"},
        {config_ok, ep_ok, e_layers, "layers.csv", "1 layers, but the episodes"},
        {config_ok, ep_ok, ly_type, "layers.csv:3:", "'pool' is not conv, dw or fc"},
        {config_ok, ep_ok, ly_bits, "layers.csv:2:", "bit-widths 12/-1"},
        {config_ok, ep_ok, ly_short, "layers.csv:2:", "5 columns, the header has 15"},
        {config_ok, ep_ok, "", "layers.csv", "no header"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char dir[64], out[256];
        temp_dir(dir);
        make_run(dir, cases[i].config, cases[i].episodes, cases[i].layers);
        snprintf(out, sizeof out, "%s/r.html", dir);
        nn_err_clear();
        ck_assert_msg(rl_report_write(dir, out) == -1, "case %zu accepted", i);
        const char *m = nn_errmsg();
        ck_assert_msg(strstr(m, cases[i].want1) && strstr(m, cases[i].want2),
                      "case %zu: '%s' lacks '%s' / '%s'", i, m, cases[i].want1, cases[i].want2);
        ck_assert_int_eq(access(out, F_OK), -1);
        remove_tree(dir);
    }
    /* a NUL byte and a file that is not a CSV at all */
    char dir[64], out[256];
    temp_dir(dir);
    make_run(dir, config_ok, NULL, ly_ok);
    char path[256];
    snprintf(path, sizeof path, "%s/episodes.csv", dir);
    FILE *f = fopen(path, "wb");
    fwrite(ep_head, 1, strlen(ep_head), f);
    fwrite("0,\0,", 1, 4, f);
    fclose(f);
    snprintf(out, sizeof out, "%s/r.html", dir);
    ck_assert_int_eq(rl_report_write(dir, out), -1);
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "episodes.csv:2: NUL byte"));
    remove_tree(dir);
}
END_TEST

/* ---- a run without episodes, and the command ----------------------------------------------- */

static int run_cmd(char *out, size_t cap, int argc, char **argv) {
    return tu_run_cmd(rl_cmd_report, out, cap, argc, argv);
}

START_TEST(no_episodes_yet) {
    char dir[64], out[256];
    temp_dir(dir);
    make_run(dir, config_ok, ep_head, NULL);
    char *argv[] = {"report", dir};
    char text[1024];
    ck_assert_int_eq(run_cmd(text, sizeof text, 2, argv), 0);
    snprintf(out, sizeof out, "result report=%s/report.html episodes=0 best_reward=0.000000 "
                              "best_top1=0.0000\n", dir);
    ck_assert_str_eq(text, out);
    snprintf(out, sizeof out, "%s/report.html", dir);
    char *html = slurp(out, NULL);
    ck_assert_ptr_nonnull(strstr(html, "no episodes yet"));
    ck_assert_int_eq(count(html, "<circle class=\"pt"), 0);
    ck_assert_ptr_nonnull(strstr(html, "<th>unknown_key</th><td>kept</td>"));
    free(html);
    /* with an empty layers.csv (header only) too */
    make_run(dir, NULL, NULL, ly_head);
    struct rl_report_summary s;
    ck_assert_msg(rl_report_write_summary(dir, NULL, &s) == 0, "%s", nn_errmsg());
    ck_assert_int_eq(s.episodes, 0);
    ck_assert_int_eq(s.layers, 0);
    ck_assert_int_eq(s.best_episode, -1);
    remove_tree(dir);
}
END_TEST

/* Finite but extreme values: rewards 16 apart near 1e17 (a tick step below their precision),
 * rewards or costs near ±DBL_MAX (a range that overflows). The report is written, in bounded
 * time. */
START_TEST(extreme_values_drawn) {
    static const char *const rows[][2] = {
        {"1e17,60,70,0.48", "100000000000000016,61,70,0.5"},
        {"-1.0,60,70,-1.7e308", "-0.5,61,70,1.7e308"},
        {"-1.7e308,60,70,0.48", "1.7e308,61,70,0.5"},
    };
    for (int i = 0; i < 3; i++) {
        char dir[64], out[256], ep[1024];
        temp_dir(dir);
        snprintf(ep, sizeof ep,
                 "%s0,%s,1,2,300,0,1,4,1,0,0.01,8 4 6,-1 5 5\n"
                 "1,%s,1,2,300,0.5,1,4,1,0.1,0.01,6 4 6,-1 5 6\n",
                 ep_head, rows[i][0], rows[i][1]);
        char *ly = cat(ly_head, ly_rows);
        make_run(dir, config_ok, ep, ly);
        free(ly);
        snprintf(out, sizeof out, "%s/r.html", dir);
        ck_assert_msg(rl_report_write(dir, out) == 0, "case %d: %s", i, nn_errmsg());
        char *html = slurp(out, NULL);
        ck_assert_int_eq(count(html, "<circle class=\"pt"), 2);
        ck_assert_ptr_nonnull(strstr(html, "</html>\n"));
        free(html);
        remove_tree(dir);
    }
}
END_TEST

START_TEST(command_result_and_errors) {
    char dir[64], out[256], text[4096];
    temp_dir(dir);
    snprintf(out, sizeof out, "%s/x.html", dir);
    char *a1[] = {"report", RUN, "--out", out};
    ck_assert_int_eq(run_cmd(text, sizeof text, 4, a1), 0);
    char want[512];
    snprintf(want, sizeof want, "result report=%s episodes=100 best_reward=-0.301478 "
                                "best_top1=68.7852\n", out);
    ck_assert_str_eq(text, want);
    ck_assert_int_eq(access(out, F_OK), 0);
    char *a2[] = {"report"};
    ck_assert_int_eq(run_cmd(text, sizeof text, 1, a2), 2);
    char *a3[] = {"report", RUN, "extra"};
    ck_assert_int_eq(run_cmd(text, sizeof text, 3, a3), 2);
    char *a4[] = {"report", "--bogus", RUN};
    ck_assert_int_eq(run_cmd(text, sizeof text, 3, a4), 2);
    char *a5[] = {"report", dir};
    ck_assert_int_eq(run_cmd(text, sizeof text, 2, a5), 1);
    ck_assert_str_eq(text, "");
    char *a6[] = {"report", "--help"};
    ck_assert_int_eq(run_cmd(text, sizeof text, 2, a6), 0);
    ck_assert_ptr_nonnull(strstr(text, "usage: haq report DIR"));
    remove_tree(dir);
}
END_TEST

/* ---- TensorBoard event files --------------------------------------------------------------- */

START_TEST(crc32c_vectors) {
    ck_assert_uint_eq(rl_crc32c("123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(rl_crc32c("", 0), 0);
    unsigned char b[32];
    memset(b, 0, sizeof b); /* RFC 3720 B.4 */
    ck_assert_uint_eq(rl_crc32c(b, 32), 0x8a9136aau);
    memset(b, 0xff, sizeof b);
    ck_assert_uint_eq(rl_crc32c(b, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++) b[i] = (unsigned char)i;
    ck_assert_uint_eq(rl_crc32c(b, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++) b[i] = (unsigned char)(31 - i);
    ck_assert_uint_eq(rl_crc32c(b, 32), 0x113fdb5cu);
    ck_assert_uint_eq(rl_crc32c_mask(0), 0xa282ead8u);
    ck_assert_uint_eq(rl_crc32c_mask(0x12345678u), ((0x12345678u >> 15) | (0x12345678u << 17)) +
                                                       0xa282ead8u);
}
END_TEST

/* An independent reader of the records and the few protobuf fields written. */
struct pb_event {
    int has_wall, has_step, has_version, has_value;
    double wall;
    int64_t step;
    char version[64], tag[128];
    float value;
};

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int varint(const unsigned char *p, size_t n, size_t *at, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*at >= n) return -1;
        unsigned char b = p[(*at)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return 0;
    }
    return -1;
}

/* Parse message p[0 … n−1] at nesting depth 0 (Event), 1 (Summary) or 2 (Value). */
static int pb_parse(const unsigned char *p, size_t n, int depth, struct pb_event *e) {
    size_t at = 0;
    while (at < n) {
        uint64_t key, v;
        if (varint(p, n, &at, &key)) return -1;
        int field = (int)(key >> 3), wire = (int)(key & 7);
        if (wire == 0) {
            if (varint(p, n, &at, &v)) return -1;
            if (depth == 0 && field == 2) {
                e->has_step = 1;
                e->step = (int64_t)v;
            } else {
                return -1;
            }
        } else if (wire == 1) {
            if (at + 8 > n || depth != 0 || field != 1) return -1;
            uint64_t u = le(p + at, 8);
            memcpy(&e->wall, &u, 8);
            e->has_wall = 1;
            at += 8;
        } else if (wire == 5) {
            if (at + 4 > n || depth != 2 || field != 2) return -1;
            uint32_t u = (uint32_t)le(p + at, 4);
            memcpy(&e->value, &u, 4);
            e->has_value = 1;
            at += 4;
        } else if (wire == 2) {
            if (varint(p, n, &at, &v) || v > n - at) return -1;
            const unsigned char *s = p + at;
            at += v;
            if (depth == 0 && field == 3 && v < sizeof e->version) {
                memcpy(e->version, s, v);
                e->version[v] = 0;
                e->has_version = 1;
            } else if ((depth == 0 && field == 5) || (depth == 1 && field == 1)) {
                if (pb_parse(s, v, depth + 1, e)) return -1;
            } else if (depth == 2 && field == 1 && v < sizeof e->tag) {
                memcpy(e->tag, s, v);
                e->tag[v] = 0;
            } else {
                return -1;
            }
        } else {
            return -1;
        }
    }
    return 0;
}

/* Records of buf: returns their count (events in ev[]), or −1 on a framing or CRC error. */
static int read_records(const unsigned char *buf, size_t len, struct pb_event *ev, int max) {
    size_t at = 0;
    int n = 0;
    while (at < len) {
        if (len - at < 12 || n == max) return -1;
        uint64_t dl = le(buf + at, 8);
        if ((uint32_t)le(buf + at + 8, 4) != rl_crc32c_mask(rl_crc32c(buf + at, 8))) return -1;
        if (dl > len - at - 16) return -1;
        const unsigned char *d = buf + at + 12;
        if ((uint32_t)le(d + dl, 4) != rl_crc32c_mask(rl_crc32c(d, dl))) return -1;
        memset(&ev[n], 0, sizeof ev[n]);
        if (pb_parse(d, dl, 0, &ev[n])) return -1;
        n++;
        at += 16 + dl;
    }
    return n;
}

START_TEST(tfevents_records_read_back) {
    char base[64], dir[128];
    temp_dir(base);
    snprintf(dir, sizeof dir, "%s/runs/tb", base);
    double t0 = (double)time(NULL);
    struct rl_tfevents *w = rl_tfevents_open(dir);
    ck_assert_msg(w != NULL, "%s", nn_errmsg());
    const char *path = rl_tfevents_path(w);
    const char *name = strrchr(path, '/') + 1;
    ck_assert_int_eq(strncmp(name, "events.out.tfevents.", 20), 0);
    char *end;
    long long secs = strtoll(name + 20, &end, 10);
    ck_assert(*end == '.' && end[1]);
    ck_assert(fabs((double)secs - t0) < 5);
    ck_assert_int_eq(rl_tfevents_scalar(w, "search/reward", 0, -0.3014), 0);
    ck_assert_int_eq(rl_tfevents_scalar(w, "search/top1", 1, 68.7852), 0);
    ck_assert_int_eq(rl_tfevents_scalar(w, "search/neg_step", -5, 1e-3), 0);
    ck_assert_int_eq(rl_tfevents_scalar(w, "search/big_step", (int64_t)1 << 40, 3e38), 0);
    ck_assert_int_eq(rl_tfevents_scalar(w, "", 0, 1), -1);
    ck_assert_int_eq(rl_tfevents_flush(w), 0);
    /* a second writer in the same second gets its own file */
    struct rl_tfevents *w2 = rl_tfevents_open(dir);
    ck_assert_ptr_nonnull(w2);
    ck_assert_str_ne(rl_tfevents_path(w2), path);
    rl_tfevents_close(w2);
    size_t len;
    unsigned char *buf = (unsigned char *)slurp(path, &len);
    rl_tfevents_close(w);
    struct pb_event ev[8];
    ck_assert_int_eq(read_records(buf, len, ev, 8), 5);
    ck_assert(ev[0].has_wall && ev[0].has_version && !ev[0].has_step && !ev[0].has_value);
    ck_assert_str_eq(ev[0].version, "brain.Event:2");
    ck_assert(fabs(ev[0].wall - t0) < 5);
    static const char *const tags[4] = {"search/reward", "search/top1", "search/neg_step",
                                        "search/big_step"};
    const int64_t steps[4] = {0, 1, -5, (int64_t)1 << 40};
    const double values[4] = {-0.3014, 68.7852, 1e-3, 3e38};
    for (int i = 0; i < 4; i++) {
        const struct pb_event *e = &ev[i + 1];
        ck_assert(e->has_wall && e->has_value && !e->has_version);
        ck_assert(e->wall >= ev[0].wall && e->wall - ev[0].wall < 5);
        ck_assert_str_eq(e->tag, tags[i]);
        ck_assert_int_eq(e->step, steps[i]);
        ck_assert_int_eq(e->has_step, 1);
        ck_assert(e->value == (float)values[i]);
    }
    /* the first record byte for byte: length 24 (double 1+8, string 2+13) and its CRCs */
    ck_assert_uint_eq(le(buf, 8), 9 + 2 + 13);
    ck_assert_uint_eq(buf[12], 0x09);
    ck_assert_uint_eq(buf[21], 0x1a);
    ck_assert_uint_eq(buf[22], 13);
    ck_assert_int_eq(memcmp(buf + 23, "brain.Event:2", 13), 0);
    /* the reader fails on a flipped bit in any part of a record */
    size_t flips[3] = {3, 10, len - 20};
    for (int k = 0; k < 3; k++) {
        buf[flips[k]] ^= 0x10;
        ck_assert_int_eq(read_records(buf, len, ev, 8), -1);
        buf[flips[k]] ^= 0x10;
    }
    ck_assert_int_eq(read_records(buf, len - 1, ev, 8), -1);
    free(buf);
    /* a directory that cannot be made */
    write_file(base, "plain", "x");
    snprintf(dir, sizeof dir, "%s/plain", base);
    ck_assert_ptr_null(rl_tfevents_open(dir));
    ck_assert_ptr_nonnull(strstr(nn_errmsg(), "not a directory"));
    remove_tree(base);
}
END_TEST

Suite *suite_rl_report(void) {
    Suite *s = suite_create("rl_report");
    TCase *tc = tcase_create("rl_report");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fixture_report);
    tcase_add_test(tc, hostile_strings_escaped);
    tcase_add_test(tc, malformed_inputs_named);
    tcase_add_test(tc, no_episodes_yet);
    tcase_add_test(tc, extreme_values_drawn);
    tcase_add_test(tc, command_result_and_errors);
    tcase_add_test(tc, crc32c_vectors);
    tcase_add_test(tc, tfevents_records_read_back);
    suite_add_tcase(s, tc);
    return s;
}

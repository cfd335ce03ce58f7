/* The report of a search run: one self-contained HTML page (inline CSS and inline SVG, no
 * scripts, fonts or URLs) drawn from the files `haq search --out DIR` leaves in DIR:
 *
 *   config.txt    `key = value` lines, '#' comments; every key is shown, unknown keys too.
 *                 Read: fp_top1, ratio (the budget, a cost ratio), metric, warmup, cost_8bit.
 *   episodes.csv  header, then one row per episode: episode, reward, top1, fp_top1,
 *                 cost_ratio, latency_ms, energy_mj, size_bytes, sigma, best, t_finetune,
 *                 t_eval, t_agent, t_hw, w_bits, a_bits (the last two: space-separated bits,
 *                 one per quantizable layer; w 32 = float weights, a −1/0/32 = unquantized).
 *   layers.csv    header, then the best policy per quantizable layer: layer, name, type
 *                 (conv, dw or fc), c_in, c_out, kernel, stride, macs, weights, w_bits,
 *                 a_bits, latency_ms, energy_mj, latency_ms_8, energy_mj_8 (ms and mJ at the
 *                 best policy, *_8 at uniform 8/8).
 *
 * Columns are found by their header names (extra columns are ignored); fields may be quoted
 * as in RFC 4180. Every row must have the header's column count and every number must parse
 * whole and be finite; a broken file yields an error naming the file and the line. An
 * episodes.csv with only its header gives a report that says "no episodes yet" (layers.csv may
 * then be absent). The page contains:
 *   - a header table of the configuration and a summary (fp and best top-1, best reward and
 *     cost ratio, mean seconds per episode in fine-tuning, evaluation, agent and hardware);
 *   - reward (left axis) and top-1 (right axis) per episode with the best-so-far reward,
 *     the warm-up episodes shaded, and the exploration σ in its own chart below;
 *   - the best policy: weight bits up and activation bits down per layer, coloured by type;
 *   - per-layer latency and energy of the best policy beside uniform 8/8;
 *   - cost ratio against top-1 for every episode, the budget line and the best episode.
 * Every string taken from the files is HTML-escaped. SVG element classes the tests count:
 * circle.pt (one per episode in the scatter), rect.wbar / rect.abar (one per layer each in
 * the policy chart; a −1/0/32 activation still gets an abar of zero height, marked "fp"),
 * rect.lat8 / rect.latq / rect.en8 / rect.enq (one per layer each). */
#ifndef HAQ_RL_REPORT_H
#define HAQ_RL_REPORT_H

struct rl_report_summary {
    int episodes;         /* rows of episodes.csv */
    int layers;           /* rows of layers.csv (0 when there are no episodes and no file) */
    int best_episode;     /* the episode with the highest reward (first of ties); −1 if none */
    double best_reward;   /* its reward, top-1 (%) and cost ratio; 0 when there is none */
    double best_top1;
    double best_cost_ratio;
};

/* Write the report of run directory dir to out_path (NULL: DIR/report.html) atomically, and
 * fill *sum when sum is not NULL. Returns 0, or −1 with nn_err naming the file (and line). */
int rl_report_write_summary(const char *dir, const char *out_path, struct rl_report_summary *sum);

/* rl_report_write_summary without the summary. */
int rl_report_write(const char *dir, const char *out_path);

#endif

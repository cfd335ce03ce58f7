/* haq search: the HAQ bit-width search (or a baseline) into a run directory, resumable. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "nn/cli.h"
#include "nn/error.h"
#include "search.h"

static const char usage[] =
    "usage: haq search --model FILE --data SPEC --hw NAME --metric latency|energy|size\n"
    "                  --ratio R [options] --out DIR\n"
    "       haq search --resume DIR [--episodes N] [--threads T]\n\n"
    "The HAQ search: per episode the agent picks every layer's bits, the budget wall forces\n"
    "the policy under ratio x the cost of all-8/8 (size: of fp32), the float weights are\n"
    "restored, quantized, calibrated and fine-tuned on the search's train split, and the\n"
    "reward is 0.1 x (top1 - fp top1) on its validation split (both drawn from the data's\n"
    "train split). Every episode lands in DIR; --resume continues a killed run exactly.\n\n"
    "  --model FILE        the float checkpoint (haq train / haq import)\n"
    "  --data SPEC         data set (haq data info --help)\n"
    "  --hw NAME           bitfusion-edge, bitfusion-cloud, bismo-edge, bismo-cloud, a config\n"
    "                      file, or table:FILE.npy\n"
    "  --metric M          latency (default), energy or size (k-means: size)\n"
    "  --ratio R           budget relative to all-8/8 (size: fp32); default 0.6 (k-means 0.1)\n"
    "  --method M          linear (weights + activations, default) or kmeans (weights)\n"
    "  --strategy S        ddpg (default); baselines: random (random search), uniform (the\n"
    "                      largest uniform policy that fits), greedy (lower the bit that\n"
    "                      saves the most cost first), wall (the budget wall on 8/8), policy\n"
    "                      (--policy P as it is: no wall, hold or fill); these one-policy\n"
    "                      baselines run one episode, or --episodes N with fresh seeds each\n"
    "  --policy P          the policy strategy's policy: a file, a HAQ list or w4a4\n"
    "  --episodes N        episodes (default 600)\n"
    "  --warmup K          episodes 0..K act uniformly at random (default 20)\n"
    "  --seed S            agent, exploration and fine-tune seed (default 234)\n"
    "  --val-size N --train-size M --split-seed S\n"
    "                      the search's splits from the train split (default: 10,000 / 20,000\n"
    "                      for large sets, else a fifth / the rest; seed 1)\n"
    "  --min-bit B --max-bit B  action range (default 2..8 linear, 1..8 k-means)\n"
    "  --no-hold           do not hold the first layer at W8 (float input) and the last at W8A8\n"
    "  --ft-epochs E       fine-tune epochs per episode (default 1); --ft-lr (1e-3),\n"
    "                      --ft-momentum (0.9), --ft-wd (4e-5), --ft-decay (0.8 per epoch)\n"
    "  --reward-train      reward on the fine-tune epoch's train top-1 (the release's linear env)\n"
    "  --step-budget       bound every action as it is taken so the budget stays reachable,\n"
    "                      the state gaining the cost spent and the rest at min bits (AMC's\n"
    "                      rule; the agent learns the bits it played; the wall never fires)\n"
    "  --fill              after the wall, spend the budget's slack on the cheapest one-bit\n"
    "                      raises (BitFusion: 3 -> 4 bits is nearly free where compute-bound)\n"
    "  --calib-batches N   calibration batches (default 1)\n"
    "  --w-thresh T --a-thresh T  weight thresholds / activation ranges below 5 bits: kl\n"
    "                      (default), kl-release, mse, max or percentile:P (haq quantize)\n"
    "  --kmeans-iters N    k-means iterations per episode (default 3); --per-channel;\n"
    "                      --act-cap R\n"
    "  agent: --hidden H (300) --agent-batch B (64) --memory N (128 x steps) --lr-actor (1e-4)\n"
    "         --lr-critic (1e-3) --tau (0.01) --discount (1) --sigma0 (0.5) --sigma-decay (0.99)\n"
    "         --baseline-alpha (0.5); exploration sigma0 x decay^(episode - warm-up): 0.99\n"
    "         anneals over the release's 600 episodes, 0.98 over about 150, 0.96 over 80\n"
    "  --batch B           images per batch (default 64); --loader-threads N; --threads T\n"
    "  --quiet             no per-episode lines\n"
    "  --out DIR           the run directory (config.txt, episodes.csv, timing.csv, layers.csv,\n"
    "                      best.policy, best.haq, search.state, agent.N.state)\n";

enum {
    OPT_OUT = 5000,
    OPT_RESUME,
    OPT_NOHOLD,
    OPT_RTRAIN,
    OPT_PERCH,
    OPT_QUIET,
    OPT_FILL,
    OPT_STEPB,
    OPT_KEY
};

static const char *const keys[] = {
    "model",         "data",           "hw",          "metric",      "ratio",
    "method",        "strategy",       "episodes",    "warmup",      "seed",
    "val-size",      "train-size",     "split-seed",  "min-bit",     "max-bit",
    "ft-epochs",     "ft-lr",          "ft-momentum", "ft-wd",       "ft-decay",
    "calib-batches", "kmeans-iters",   "act-cap",     "w-thresh",    "a-thresh",
    "hidden",        "agent-batch",    "memory",      "lr-actor",    "lr-critic",
    "tau",           "discount",       "sigma0",      "sigma-decay", "baseline-alpha",
    "batch",         "loader-threads", "policy",      NULL};

int rl_cmd_search(int argc, char **argv) {
    struct option opts[64];
    int n = 0;
    for (int i = 0; keys[i]; i++) opts[n++] = (struct option){keys[i], required_argument, 0, OPT_KEY + i};
    opts[n++] = (struct option){"out", required_argument, 0, OPT_OUT};
    opts[n++] = (struct option){"resume", required_argument, 0, OPT_RESUME};
    opts[n++] = (struct option){"no-hold", no_argument, 0, OPT_NOHOLD};
    opts[n++] = (struct option){"reward-train", no_argument, 0, OPT_RTRAIN};
    opts[n++] = (struct option){"per-channel", no_argument, 0, OPT_PERCH};
    opts[n++] = (struct option){"quiet", no_argument, 0, OPT_QUIET};
    opts[n++] = (struct option){"fill", no_argument, 0, OPT_FILL};
    opts[n++] = (struct option){"step-budget", no_argument, 0, OPT_STEPB};
    opts[n++] = (struct option){"threads", required_argument, 0, NN_OPT_THREADS};
    opts[n++] = (struct option){"help", no_argument, 0, 'h'};
    opts[n++] = (struct option){0, 0, 0, 0};
    struct rl_search_opts o;
    rl_search_defaults(&o);
    const char *out = NULL, *resume = NULL;
    int episodes_given = 0, quiet = 0, opt, rc = 2;
    /* --method resets the method's defaults: apply it before everything else */
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1)
        if (opt >= OPT_KEY && !strcmp(keys[opt - OPT_KEY], "method") &&
            rl_search_set(&o, "method", optarg) < 0) {
            fprintf(stderr, "haq search: --method: %s\n", nn_errmsg());
            goto done;
        }
    opterr = 1;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            printf("%s", usage);
            rc = 0;
            goto done;
        case OPT_OUT: out = optarg; break;
        case OPT_RESUME: resume = optarg; break;
        case OPT_NOHOLD: o.env.hold = 0; break;
        case OPT_RTRAIN: o.reward_train = 1; break;
        case OPT_PERCH: o.q.per_channel = 1; break;
        case OPT_QUIET: quiet = 1; break;
        case OPT_FILL: o.fill = 1; break;
        case OPT_STEPB: o.env.step_budget = 1; break;
        case NN_OPT_THREADS:
            if (nn_cli_threads("search", optarg)) goto done;
            break;
        default:
            if (opt < OPT_KEY || opt >= OPT_KEY + n) {
                fprintf(stderr, "%s", usage);
                goto done;
            }
            if (!strcmp(keys[opt - OPT_KEY], "method")) break;
            if (!strcmp(keys[opt - OPT_KEY], "episodes")) episodes_given = 1;
            if (rl_search_set(&o, keys[opt - OPT_KEY], optarg) < 0) {
                fprintf(stderr, "haq search: --%s: %s\n", keys[opt - OPT_KEY], nn_errmsg());
                goto done;
            }
        }
    }
    if (optind < argc || (!resume && (!out || !o.model || !o.data)) || (resume && out)) {
        fprintf(stderr, "haq search: %s (haq search --help)\n",
                resume && out ? "--resume DIR takes no --out"
                              : "--model, --data and --out are required");
        goto done;
    }
    if ((o.val_size == 0) != (o.train_size == 0)) {
        fprintf(stderr, "haq search: --val-size and --train-size go together\n");
        goto done;
    }
    if (resume) {
        /* the run's own options come from its config.txt; only these may change */
        struct rl_search_opts r;
        rl_search_defaults(&r);
        r.episodes = episodes_given ? o.episodes : 0;
        rl_search_opts_free(&o);
        o = r;
    }
    /* a one-policy baseline scores its policy once unless --episodes asks for repeats */
    if (!resume && !episodes_given && o.strategy >= RL_UNIFORM) o.episodes = 1;
    o.quiet = quiet;
    struct rl_search_result res;
    const char *dir = resume ? resume : out;
    if (rl_search_run(&o, dir, resume != NULL, &res)) {
        fprintf(stderr, "haq search: %s\n", nn_errmsg());
        rc = 1;
        goto done;
    }
    double total = res.t_finetune + res.t_eval + res.t_agent + res.t_hw;
    if (total > 0)
        fprintf(stderr,
                "time: fine-tune %.1f s (%.1f%%), eval %.1f s (%.1f%%), agent %.2f s (%.2f%%), "
                "hardware %.3f s (%.3f%%)\n",
                res.t_finetune, 100 * res.t_finetune / total, res.t_eval,
                100 * res.t_eval / total, res.t_agent, 100 * res.t_agent / total, res.t_hw,
                100 * res.t_hw / total);
    printf("result best_reward=%.4f best_top1=%.2f fp_top1=%.2f cost_ratio=%.9g latency_ms=%.6g "
           "energy_mj=%.6g size_bytes=%.0f best_episode=%d episodes=%d agent_pct=%.3f "
           "hw_pct=%.4f dir=%s\n",
           res.best_reward, res.best_top1, res.fp_top1, res.best_cost_ratio, res.latency_ms,
           res.energy_mj, res.size_bytes, res.best_episode, res.episodes,
           total > 0 ? 100 * res.t_agent / total : 0, total > 0 ? 100 * res.t_hw / total : 0,
           dir);
    rc = 0;
done:
    rl_search_opts_free(&o);
    return rc;
}

# Shared by the paper recipes: the time a run will take on this engine, from bench_train's
# measured rates (images per second of a training step and of inference, 2 threads).
#   hours EPISODES TRAIN_IMGS VAL_IMGS TRAIN_RATE INFER_RATE FT_EPOCHS FT_IMGS EVAL_IMGS
# prints the search hours, the final fine-tune hours and the total.
hours() {
    awk -v ep="$1" -v tr="$2" -v va="$3" -v rt="$4" -v ri="$5" -v fe="$6" -v fi="$7" -v ev="$8" \
        'BEGIN { s = ep * (tr / rt + va / ri) / 3600; f = (fe * fi / rt + fe * ev / ri) / 3600
                 printf "search %.1f h (%d episodes x (%d train / %.1f + %d val / %.1f img/s)), ", s, ep, tr, rt, va, ri
                 printf "final fine-tune %.1f h (%d epochs x %d images), total %.1f h\n", f, fe, fi, s + f }'
}
# Rates: measure them now with RATES=measure (runs build/bench_train for the model), or take the
# figures measured for the README (2 threads, 2-core x86-64 with AVX2/FMA): float training and
# inference; quantization-aware steps add the fake-quantization passes on top (not counted).
rates() { # model → sets TRAIN_RATE INFER_RATE at 224 px from a fresh bench_train run
    if [ "${RATES:-readme}" = measure ]; then
        line=$("${BENCH_TRAIN:-build/bench_train}" --only "$1" --no-torch | grep ' size=224 ' | head -1)
        TRAIN_RATE=$(echo "$line" | tr ' ' '\n' | sed -n 's/^train_img_s=//p')
        INFER_RATE=$(echo "$line" | tr ' ' '\n' | sed -n 's/^infer_img_s=//p')
    fi
}
# A rate at 224 px scaled to S px by the pixel count (the work per image goes with H·W).
at_size() { awk -v r="$1" -v s="$2" 'BEGIN { printf "%.1f", r * (224 / s) * (224 / s) }'; }
